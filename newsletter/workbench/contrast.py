"""Contrast of every visible text in the rendered HTML, in light and in dark mode.

Each text is measured against the background it sits on (the nearest
ancestor with a colour, translucent colours composited), with WCAG AA's
threshold for its size: 4.5:1, or 3:1 for large text. Dark mode is what
Apple Mail and Outlook for macOS show: the ``prefers-color-scheme: dark``
rules on a dark canvas. Results are grouped by colour pair, so the report
says "footer text #595959 on #111418, 2.8:1, 14 texts" once, not 14 times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from newsletter.render.colour import AA_LARGE, AA_NORMAL, RGBA, contrast, parse_colour
from newsletter.workbench.htmldoc import Document, Element, Styles

# What a client paints before any style: Chromium's canvas and text colours,
# light and dark (a message declaring color-scheme "light dark" gets the dark
# ones in dark mode).
CANVAS = {False: RGBA(255, 255, 255), True: RGBA(18, 18, 18)}
CANVAS_TEXT = {False: RGBA(0, 0, 0), True: RGBA(255, 255, 255)}
LINK = {False: RGBA(0, 0, 238), True: RGBA(158, 158, 255)}
_SKIP = frozenset({"style", "script", "head", "title"})


@dataclass(frozen=True)
class Sample:
    """One text as a reader sees it."""

    text: str
    foreground: str
    background: str
    ratio: float
    required: float  # 0 for text of size 0, which nobody reads
    large: bool
    where: str


@dataclass(frozen=True)
class Group:
    """Every text of one mode with the same colours and threshold."""

    dark: bool
    foreground: str
    background: str
    ratio: float
    required: float
    count: int
    example: Sample

    @property
    def passes(self) -> bool:
        return self.ratio >= self.required


@dataclass(frozen=True)
class Measurement:
    dark: bool
    groups: tuple[Group, ...]
    unknown: int  # texts on a background image or an unreadable colour

    @property
    def texts(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def failing(self) -> list[Group]:
        return [g for g in self.groups if not g.passes]

    @property
    def lowest(self) -> Group | None:
        return min(self.groups, key=lambda g: g.ratio / g.required, default=None)


def measure(doc: Document, *, dark: bool) -> Measurement:
    groups: dict[tuple[str, str, float], list[Sample]] = {}
    unknown = 0
    for sample in samples(doc, dark=dark):
        if sample is None:
            unknown += 1
        elif sample.required:  # zero-size text (mjml's font-size:0 cells) is not read
            key = (sample.foreground, sample.background, sample.required)
            groups.setdefault(key, []).append(sample)
    out = [
        Group(dark, fg, bg, found[0].ratio, req, len(found), found[0])
        for (fg, bg, req), found in groups.items()
    ]
    out.sort(key=lambda g: g.ratio / g.required)
    return Measurement(dark, tuple(out), unknown)


def samples(doc: Document, *, dark: bool) -> Iterator[Sample | None]:
    """Each visible text as measured; None where its background cannot be known."""
    styles = Styles(doc, dark=dark)
    canvas_dark = dark and _declares_dark(doc)
    for el, text in visible_texts(doc):
        if not styles.hidden(el):
            yield _sample(styles, el, text, canvas_dark)


def _declares_dark(doc: Document) -> bool:
    for el in doc.elements():
        if el.tag == "meta" and el.attrs.get("name") == "color-scheme":
            return "dark" in el.attrs.get("content", "")
    return False


def visible_texts(doc: Document) -> Iterator[tuple[Element, str]]:
    """Every non-blank text of the body with its element (whitespace collapsed)."""
    for el in doc.elements():
        if el.tag in _SKIP or any(a.tag in _SKIP for a in el.ancestors()):
            continue
        for child in el.children:
            if isinstance(child, str) and child.strip():
                yield el, " ".join(child.split())


def _sample(styles: Styles, el: Element, text: str, dark: bool) -> Sample | None:
    background = _background(styles, el, dark)
    if background is None:
        return None
    colour_value = styles.inherited(el, "color")
    if colour_value is None:
        in_link = el.tag == "a" or any(a.tag == "a" for a in el.ancestors())
        fg = (LINK if in_link else CANVAS_TEXT)[dark]
    else:
        parsed = parse_colour(colour_value)
        if parsed is None:
            return None
        fg = parsed.over(background)
    size = _font_size(styles, el)
    if size <= 0:
        return Sample(text[:60], fg.hex, background.hex, 0, 0, False, el.describe())
    bold = _bold(styles, el)
    large = size >= 24 or (bold and size >= 18.66)
    required = AA_LARGE if large else AA_NORMAL
    ratio = contrast(fg, background)
    return Sample(text[:60], fg.hex, background.hex, ratio, required, large, el.describe())


def _background(styles: Styles, el: Element, dark: bool) -> RGBA | None:
    """The colour behind ``el``: ancestors' backgrounds composited onto the canvas."""
    layers: list[RGBA] = []
    for node in (el, *el.ancestors()):
        value = styles.own(node).get("background-color")
        if value is None:
            continue
        if "url(" in value or "gradient(" in value:
            return None
        colour = _colour_in(value)
        if colour is None:
            continue
        layers.append(colour)
        if colour.a >= 1:
            break
    result = CANVAS[dark]
    for layer in reversed(layers):
        result = layer.over(result)
    return result


def _colour_in(value: str) -> RGBA | None:
    """The colour in a ``background`` shorthand (``#fff``, ``#f18f01 no-repeat`` …)."""
    direct = parse_colour(value)
    if direct is not None:
        return direct
    for token in re.findall(r"rgba?\([^)]*\)|#[0-9a-fA-F]+|[a-zA-Z]+", value):
        found = parse_colour(token)
        if found is not None:
            return found
    return None


def _font_size(styles: Styles, el: Element) -> float:
    """The computed size in px; ``em`` and ``%`` relative to the parent, 16 px at the root."""
    chain = [el, *el.ancestors()]
    size = 16.0
    for node in reversed(chain):
        value = styles.own(node).get("font-size")
        if not value:
            if node.tag in _HEADING_SIZES:
                size *= _HEADING_SIZES[node.tag]
            continue
        m = re.fullmatch(r"\s*([\d.]+)\s*(px|pt|em|rem|%)?\s*", value)
        if not m:
            continue
        n, unit = float(m.group(1)), m.group(2) or "px"
        size = {"px": n, "pt": n * 4 / 3, "em": n * size, "rem": n * 16, "%": n * size / 100}[unit]
    return size


_HEADING_SIZES = {"h1": 2.0, "h2": 1.5, "h3": 1.17, "h4": 1.0, "small": 0.83}


_BOLD_TAGS = frozenset({"b", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "th"})


def _bold(styles: Styles, el: Element) -> bool:
    """Declared weight of the nearest element that has one, else the tag's default."""
    for node in (el, *el.ancestors()):
        value = styles.own(node).get("font-weight", "").strip().lower()
        if value and value not in ("inherit", "initial", "unset"):
            return value in ("bold", "bolder") or (value.isdigit() and int(value) >= 700)
        if node.tag in _BOLD_TAGS:
            return True
    return False
