"""Wrap plain text to a column width, counting East Asian wide characters as two.

``textwrap`` counts code points, so a line of Chinese would run to twice the
width, and it never breaks between CJK characters (which have no spaces).
"""

from __future__ import annotations

import unicodedata
from functools import cache


@cache
def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(s: str) -> int:
    if s.isascii():
        return len(s)
    return sum(char_width(c) for c in s)


def _pieces(text: str) -> list[tuple[str, bool]]:
    """Split into breakable pieces: words, and single wide characters.

    Each piece says whether a space preceded it in the source, so wrapping
    never adds or drops a space (Chinese runs join without one).
    """
    pieces: list[tuple[str, bool]] = []
    for word in text.split():
        if word.isascii():
            pieces.append((word, True))
            continue
        buf = ""
        first = True
        for ch in word:
            if char_width(ch) == 2 and not _is_closing_punct(ch) and buf:
                pieces.append((buf, first))
                buf, first = ch, False
            else:
                buf += ch
        if buf:
            pieces.append((buf, first))
    return pieces


def _is_closing_punct(ch: str) -> bool:
    # Never start a line with a closing mark (kinsoku shori, simplified).
    return ch in "，。、；：！？）」』》〉】”’"


def wrap(text: str, width: int = 78, indent: str = "", subsequent: str | None = None) -> list[str]:
    """Wrap one paragraph; a single piece longer than ``width`` (a URL) stays whole."""
    subsequent = indent if subsequent is None else subsequent
    lines: list[str] = []
    line = indent
    line_w = display_width(indent)
    empty = True
    for piece, spaced in _pieces(text):
        pw = display_width(piece)
        sep = " " if spaced and not empty else ""
        if not empty and line_w + len(sep) + pw > width:
            lines.append(line.rstrip())
            line, line_w, empty = subsequent, display_width(subsequent), True
            sep = ""
        line += sep + piece
        line_w += len(sep) + pw
        empty = False
    if not empty:
        lines.append(line.rstrip())
    return lines
