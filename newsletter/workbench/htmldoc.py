"""The rendered HTML as a mail client sees it: an element tree and the styles that apply.

Enough of a browser's cascade for the pre-send report to read colours, sizes
and visibility in light and in dark mode, without a browser: inline styles,
the rules left in ``<style>`` (with ``@media (prefers-color-scheme: dark)``
applied only in dark mode), ``!important``, specificity, inheritance and the
``bgcolor`` attributes email HTML still relies on. Selectors with
attributes, pseudo-classes or sibling combinators are ignored: no rule of the
default theme uses them, and mail clients drop most of them anyway.
``tests/test_report_contrast.py`` checks the result against Chromium's
computed styles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()  # noqa: SIM905
)
INHERITED = frozenset({"color", "font-size", "font-weight"})


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(self.attrs.get("class", "").split())

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def describe(self) -> str:
        """``p.nl-small`` in ``div.nl-chrome``: where a reader finds it."""
        own = self.tag + "".join(f".{c}" for c in sorted(self.classes))
        section = next((a for a in self.ancestors() if a.classes & SECTION_CLASSES), None)
        if section is None:
            return own
        name = next(iter(sorted(section.classes & SECTION_CLASSES)))
        return f"{own} in {section.tag}.{name}"


SECTION_CLASSES = frozenset({"nl-card", "nl-chrome", "nl-body"})


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.css: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        top = self.stack[-1]
        if top.tag == "style":
            self.css.append(data)
        top.children.append(data)


@dataclass(frozen=True)
class Rule:
    selector: tuple[tuple[str, str], ...]  # (combinator, compound) pairs, leftmost first
    declarations: tuple[tuple[str, str, bool], ...]
    specificity: tuple[int, int, int]
    order: int
    dark_only: bool


@dataclass
class Document:
    root: Element
    rules: list[Rule]

    def elements(self) -> Iterator[Element]:
        return self.root.iter()


def parse(html: str) -> Document:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    rules: list[Rule] = []
    for css in builder.css:
        _parse_css(css, rules, dark=False)
    return Document(builder.root, rules)


# --- CSS -----------------------------------------------------------------------------------

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_COMPOUND = re.compile(r"^(?P<tag>[a-z0-9*]+)?(?P<rest>(?:[.#][\w-]+)*)$", re.I)


def _blocks(css: str) -> Iterator[tuple[str, str]]:
    """Top-level ``prelude { body }`` pairs, nested braces kept in the body."""
    depth, start, prelude_start = 0, 0, 0
    for i, ch in enumerate(css):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                yield css[prelude_start:start].strip(), css[start + 1 : i]
                prelude_start = i + 1


def _parse_css(css: str, rules: list[Rule], *, dark: bool) -> None:
    for prelude, body in _blocks(_COMMENT.sub("", css)):
        if prelude.startswith("@media"):
            query = prelude.lower().replace(" ", "")
            if "prefers-color-scheme:dark" in query:
                _parse_css(body, rules, dark=True)
            # Width queries (phone layout) change sizes, not colours: not followed.
            continue
        if prelude.startswith("@"):
            continue
        declarations = tuple(parse_declarations(body).items())
        decls = tuple((name, value, important) for name, (value, important) in declarations)
        for selector in prelude.split(","):
            parsed = _parse_selector(selector.strip())
            if parsed is not None:
                rules.append(Rule(parsed[0], decls, parsed[1], len(rules), dark))


def parse_declarations(body: str) -> dict[str, tuple[str, bool]]:
    out: dict[str, tuple[str, bool]] = {}
    for part in body.split(";"):
        name, sep, value = part.partition(":")
        if not sep:
            continue
        value = value.strip()
        important = value.lower().endswith("!important")
        if important:
            value = value[: -len("!important")].strip()
        out[name.strip().lower()] = (value, important)
    return out


def _parse_selector(text: str) -> tuple[tuple[tuple[str, str], ...], tuple[int, int, int]] | None:
    tokens = re.split(r"\s*(>)\s*|\s+", text)
    parts: list[tuple[str, str]] = []
    combinator = " "
    ids = classes = tags = 0
    for tok in tokens:
        if tok is None or tok == "":
            continue
        if tok == ">":
            combinator = ">"
            continue
        m = _COMPOUND.match(tok)
        if not m or not (m.group("tag") or m.group("rest")):
            return None
        if m.group("tag") and m.group("tag") != "*":
            tags += 1
        ids += m.group("rest").count("#")
        classes += m.group("rest").count(".")
        parts.append((combinator, tok.lower() if m.group("tag") else tok))
        combinator = " "
    return (tuple(parts), (ids, classes, tags)) if parts else None


def _compound_matches(el: Element, compound: str) -> bool:
    m = _COMPOUND.match(compound)
    assert m
    tag = m.group("tag")
    if tag and tag != "*" and tag.lower() != el.tag:
        return False
    for kind, name in re.findall(r"([.#])([\w-]+)", m.group("rest")):
        if kind == "." and name not in el.classes:
            return False
        if kind == "#" and el.attrs.get("id") != name:
            return False
    return True


def matches(el: Element, selector: tuple[tuple[str, str], ...]) -> bool:
    """Right to left, as browsers match: the last compound is the element itself."""
    *rest, (combinator, last) = selector
    if not _compound_matches(el, last):
        return False
    node: Element | None = el
    for prev_combinator, compound in reversed(rest):
        if combinator == ">":
            node = node.parent if node else None
            if node is None or not _compound_matches(node, compound):
                return False
        else:
            node = next(
                (a for a in (node.ancestors() if node else ()) if _compound_matches(a, compound)),
                None,
            )
            if node is None:
                return False
        combinator = prev_combinator
    return True


# --- the cascade ---------------------------------------------------------------------------


class Styles:
    """Specified values per element in one mode (light or dark), computed on demand."""

    def __init__(self, doc: Document, *, dark: bool) -> None:
        self.dark = dark
        self.rules = [r for r in doc.rules if dark or not r.dark_only]
        self._own: dict[int, dict[str, str]] = {}

    def own(self, el: Element) -> dict[str, str]:
        """The declarations that win on ``el`` itself (no inheritance)."""
        key = id(el)
        if key in self._own:
            return self._own[key]
        best: dict[str, tuple[tuple, str]] = {}

        def offer(name: str, value: str, rank: tuple) -> None:
            if name not in best or rank > best[name][0]:
                best[name] = (rank, value)

        # Presentational attributes rank below every style sheet rule.
        if "bgcolor" in el.attrs:
            offer("background-color", el.attrs["bgcolor"], (0, 0, (0, 0, 0), -1))
        if el.tag == "font" and "color" in el.attrs:
            offer("color", el.attrs["color"], (0, 0, (0, 0, 0), -1))
        for rule in self.rules:
            if matches(el, rule.selector):
                for name, value, important in rule.declarations:
                    offer(name, value, (int(important), 0, rule.specificity, rule.order))
        for name, (value, important) in parse_declarations(el.attrs.get("style", "")).items():
            offer(name, value, (int(important), 1, (0, 0, 0), 0))
        resolved = {name: value for name, (_, value) in best.items()}
        if "background" in resolved and not _wins(best, "background-color", "background"):
            resolved["background-color"] = resolved["background"]
        self._own[key] = resolved
        return resolved

    def inherited(self, el: Element, name: str) -> str | None:
        for node in (el, *el.ancestors()):
            value = self.own(node).get(name)
            if value and value.lower() not in ("inherit", "initial", "unset"):
                return value
        return None

    def hidden(self, el: Element) -> bool:
        for node in (el, *el.ancestors()):
            own = self.own(node)
            if own.get("display", "").lower() == "none":
                return True
            if own.get("visibility", "").lower() == "hidden":
                return True
            if own.get("opacity", "").strip() in ("0", "0.0"):
                return True
        return False


def _wins(best: dict[str, tuple[tuple, str]], a: str, b: str) -> bool:
    return a in best and best[a][0] >= best[b][0]
