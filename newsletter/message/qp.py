"""Quoted-printable that keeps placeholders whole, so encoding happens once.

The stdlib encoder wraps lines at 76 characters wherever they fall, which can
split ``%%UNSUBSCRIBE_URL%%`` across a soft line break; then no byte-level
substitution can find it. This encoder puts every placeholder on a line of its
own (soft breaks before and after, which decode to nothing), so a composer can
swap it for the recipient's value, encoded by ``encode_value``, without
re-encoding the body.

Two extra rules make the output safe to hand to SMTP untouched: a ``.`` at the
start of a line is encoded (so no dot-stuffing is ever needed) and so is the
``F`` of a leading ``From `` (so mbox readers leave it alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_LINE = 76  # RFC 2045 §6.7, including the soft-break "="

_SAFE = frozenset(b for b in range(33, 127) if b != ord("="))
# Printable ASCII but "=", inner blanks allowed, no leading "." nor trailing blank.
_PLAIN = re.compile(r"[!-<>-~]([ \t!-<>-~]*[!-<>-~])?")
_HEX = [f"={b:02X}" for b in range(256)]


def _token(line: bytes, i: int, col: int, final: bool) -> str:
    b = line[i]
    if b in _SAFE:
        if col == 0 and (b == 0x2E or (b == 0x46 and line[i : i + 5] == b"From ")):
            return _HEX[b]
        return chr(b)
    if b in (0x20, 0x09) and not (final and i == len(line) - 1):
        return chr(b)
    return _HEX[b]


def _encode_line(line: bytes, out: list[str], col: int, *, final: bool) -> int:
    """Append ``line`` (no newline) encoded from column ``col``; return the new column.

    ``final`` says the line's last byte ends a hard line, so trailing
    whitespace there must be encoded to survive transport.
    """
    for i in range(len(line)):
        tok = _token(line, i, col, final)
        if col + len(tok) > MAX_LINE - 1:
            out.append("=\r\n")
            col = 0
            tok = _token(line, i, col, final)
        out.append(tok)
        col += len(tok)
    return col


def encode_value(value: str) -> str:
    """Encode one substituted value so it may stand on a placeholder's own line.

    Trailing whitespace is always encoded, because a soft break may follow.
    """
    if len(value) < MAX_LINE and _PLAIN.fullmatch(value) and not value.startswith((".", "From ")):
        return value  # the common case: a short ASCII URL or name
    data = value.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    out: list[str] = []
    for k, line in enumerate(data.split(b"\n")):
        if k:
            out.append("\r\n")
        _encode_line(line, out, 0, final=True)
    return "".join(out)


def encode(text: str, placeholders: Iterable[str] = ()) -> str:
    """Encode ``text`` to QP with CRLF line ends, keeping placeholders verbatim and whole.

    Each placeholder stands at the start of a line (after a soft break) and is
    followed by a soft break or the end of the line, ready for ``str.replace``
    or splitting.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    names = [p for p in placeholders if p]
    pattern = re.compile("(" + "|".join(re.escape(p) for p in names) + ")") if names else None
    out: list[str] = []
    for k, line in enumerate(text.split("\n")):
        if k:
            out.append("\r\n")
        col = 0
        pieces = pattern.split(line) if pattern else [line]
        # split() with a group alternates text, placeholder, text, …
        for j, piece in enumerate(pieces):
            last = j == len(pieces) - 1
            if j % 2:
                if col:
                    out.append("=\r\n")
                out.append(piece)
                col = len(piece)
                if not last and pieces[j + 1]:
                    out.append("=\r\n")
                    col = 0
            elif piece:
                col = _encode_line(piece.encode("utf-8"), out, col, final=last)
    return "".join(out)
