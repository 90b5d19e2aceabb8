"""Wrap plain text to a column width, counting East Asian wide characters as two.

``textwrap`` counts code points, so a line of Chinese would run to twice the
width, and it never breaks between CJK characters (which have no spaces).

In Chinese text (``cjk=True``) the "ambiguous" characters of Unicode's East
Asian Width (UAX #11) — curly quotes, the dash, the ellipsis, the middle dot —
are set in CJK fonts, full width, by the terminals and mail clients that show
Chinese, so they count as two columns there and as one in German text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from itertools import repeat

# Spaces a line may break at: not the no-break spaces French puts before ":" and
# inside « » (str.split() would break there and turn them into plain spaces).
_BREAKABLE_SPACE = re.compile(r"[ \t\n\r\f\v\u2000-\u200a\u3000]+")


@cache
def char_width(ch: str, cjk: bool = False) -> int:
    if unicodedata.combining(ch):
        return 0
    wide = ("W", "F", "A") if cjk else ("W", "F")
    return 2 if unicodedata.east_asian_width(ch) in wide else 1


def display_width(s: str, cjk: bool = False) -> int:
    if s.isascii():
        return len(s)
    return sum(map(char_width, s, repeat(cjk)))


def _pieces(text: str, cjk: bool) -> list[tuple[str, bool, int]]:
    """Split into breakable pieces: words, and single wide characters, with their widths.

    Each piece says whether a space preceded it in the source, so wrapping
    never adds or drops a space (Chinese runs join without one).
    """
    pieces: list[tuple[str, bool, int]] = []
    for word in _BREAKABLE_SPACE.split(text.strip(" \t\n\r\f\v")):
        if not word:
            continue
        if word.isascii():
            pieces.append((word, True, len(word)))
            continue
        if not any(map(_wide, word)):  # Nürnberg, „Fit for 55“: one piece
            pieces.append((word, True, display_width(word, cjk)))
            continue
        buf = ""
        first = True
        for ch in word:
            if buf and _break_before(buf[-1], ch):
                pieces.append((buf, first, display_width(buf, cjk)))
                buf, first = ch, False
            else:
                buf += ch
        if buf:
            pieces.append((buf, first, display_width(buf, cjk)))
    return pieces


@cache
def _wide(ch: str) -> bool:
    # Only truly wide characters are break opportunities: an ambiguous one
    # (ü, “) is wide in Chinese text but part of a word like "Nürnberg".
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _break_before(prev: str, ch: str) -> bool:
    """A line may break between two characters of a CJK run (or after one, before Latin)."""
    if _is_closing_punct(ch) or _is_opening_punct(prev):
        return False
    return _wide(ch) or _wide(prev)


# Kinsoku shori, simplified: a line never starts with a closing mark and
# never ends with an opening one.
_CLOSING = frozenset("，。、；：！？）」』》〉】”’…—·")
_OPENING = frozenset("（「『《〈【“‘")


def _is_closing_punct(ch: str) -> bool:
    return ch in _CLOSING


def _is_opening_punct(ch: str) -> bool:
    return ch in _OPENING


def wrap(
    text: str,
    width: int = 78,
    indent: str = "",
    subsequent: str | None = None,
    *,
    cjk: bool = False,
) -> list[str]:
    """Wrap one paragraph; a single piece longer than ``width`` (a URL) stays whole.

    ``cjk`` for Chinese text: ambiguous-width punctuation counts double.
    """
    subsequent = indent if subsequent is None else subsequent
    lines: list[str] = []
    parts = [indent]  # the line being filled, joined once when it is full
    line_w = display_width(indent)
    empty = True
    for piece, spaced, pw in _pieces(text, cjk):
        sep = 1 if spaced and not empty else 0
        if not empty and line_w + sep + pw > width:
            lines.append("".join(parts).rstrip())
            parts, line_w, empty = [subsequent], display_width(subsequent), True
            sep = 0
        if sep:
            parts.append(" ")
        parts.append(piece)
        line_w += sep + pw
        empty = False
    if not empty:
        lines.append("".join(parts).rstrip())
    return lines
