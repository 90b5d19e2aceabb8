"""Colours as WCAG 2.2 sees them: parsing, relative luminance, contrast ratio.

The theme uses it to pick a readable label for any brand colour, and the
pre-send report uses it to measure every text colour against its background.
Only sRGB colours as email CSS writes them are understood; anything else
(``currentColor``, gradients, ``var()``) is ``None`` and left unjudged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# WCAG 2.2 success criterion 1.4.3 (level AA): normal text needs 4.5:1, large
# text (24 px, or 18.66 px bold) 3:1.
AA_NORMAL = 4.5
AA_LARGE = 3.0

# CSS basic colours plus the few named ones seen in email templates.
_NAMED = {
    "black": "#000000", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080",
    "white": "#ffffff", "maroon": "#800000", "red": "#ff0000", "purple": "#800080",
    "fuchsia": "#ff00ff", "green": "#008000", "lime": "#00ff00", "olive": "#808000",
    "yellow": "#ffff00", "navy": "#000080", "blue": "#0000ff", "teal": "#008080",
    "aqua": "#00ffff", "orange": "#ffa500", "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9",
    "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3", "dimgray": "#696969", "dimgrey": "#696969",
}  # fmt: skip
_HEX = re.compile(r"#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})")
_FUNC = re.compile(r"rgba?\(\s*([^)]*)\)")


@dataclass(frozen=True)
class RGBA:
    """An sRGB colour with channels 0–255 and alpha 0–1."""

    r: int
    g: int
    b: int
    a: float = 1.0

    @property
    def hex(self) -> str:
        return f"#{self.r:02x}{self.g:02x}{self.b:02x}"

    def over(self, background: RGBA) -> RGBA:
        """This colour composited onto an opaque ``background`` (what the eye sees)."""
        if self.a >= 1:
            return self
        a = self.a

        def mix(f: int, b: int) -> int:
            return round(f * a + b * (1 - a))

        return RGBA(mix(self.r, background.r), mix(self.g, background.g), mix(self.b, background.b))


TRANSPARENT = RGBA(0, 0, 0, 0.0)


def parse_colour(value: str) -> RGBA | None:
    """``#fff``, ``#a3111c``, ``rgb(1, 2, 3)``, ``rgba(0,0,0,.5)``, ``white`` … or None."""
    v = value.strip().lower().removesuffix("!important").strip()
    if v == "transparent":
        return TRANSPARENT
    v = _NAMED.get(v, v)
    m = _HEX.fullmatch(v)
    if m:
        digits = m.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        alpha = int(digits[6:8], 16) / 255 if len(digits) == 8 else 1.0
        return RGBA(int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha)
    m = _FUNC.fullmatch(v)
    if m:
        parts = [p for p in re.split(r"[\s,/]+", m.group(1)) if p]
        if len(parts) not in (3, 4):
            return None
        try:
            rgb = [_channel(p) for p in parts[:3]]
            alpha = _alpha(parts[3]) if len(parts) == 4 else 1.0
        except ValueError:
            return None
        return RGBA(*rgb, alpha)  # type: ignore[call-arg]
    return None


def _channel(p: str) -> int:
    n = float(p[:-1]) * 2.55 if p.endswith("%") else float(p)
    return max(0, min(255, round(n)))


def _alpha(p: str) -> float:
    n = float(p[:-1]) / 100 if p.endswith("%") else float(p)
    return max(0.0, min(1.0, n))


def luminance(colour: RGBA) -> float:
    """Relative luminance as defined by WCAG 2.2 (sRGB, threshold 0.04045)."""

    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(colour.r) + 0.7152 * lin(colour.g) + 0.0722 * lin(colour.b)


def contrast(a: RGBA | str, b: RGBA | str) -> float:
    """The WCAG contrast ratio of two opaque colours, 1.0 … 21.0."""
    ca = parse_colour(a) if isinstance(a, str) else a
    cb = parse_colour(b) if isinstance(b, str) else b
    if ca is None or cb is None:
        raise ValueError(f"not a colour: {a if ca is None else b!r}")
    la, lb = luminance(ca), luminance(cb)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def readable_on(background: str, dark: str = "#111111", light: str = "#ffffff") -> str:
    """The label colour for text on ``background``: ``light`` if it passes AA, else the better one.

    White stays the first choice because brand guides usually expect it on
    their colour; a light brand colour such as orange ``#f18f01`` (2.4:1 with
    white) gets the dark label instead.
    """
    if contrast(light, background) >= AA_NORMAL:
        return light
    return dark if contrast(dark, background) > contrast(light, background) else light
