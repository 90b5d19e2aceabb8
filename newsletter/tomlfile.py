"""TOML with positions: tomllib gives values only, our error messages need ``file:line``.

:func:`load` parses and turns a syntax error into a located :class:`Problem`;
:func:`key_lines` re-reads the source for the line of every table and key (a
small scanner that knows TOML's strings, arrays and comments, so a ``=`` inside
a multi-line string is not taken for a key).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from newsletter.errors import ConfigError, Problem


def load(text: str, file: str) -> dict[str, Any]:
    """The document, or a :class:`ConfigError` at the line and column tomllib names."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", str(exc))
        if m is None:
            raise ConfigError(f"invalid TOML: {exc}", file=file) from None
        message = f"invalid TOML: {str(exc)[: m.start()]}"
        raise ConfigError([Problem(message, file=file, line=int(m[1]), column=int(m[2]))]) from None


_HEADER = re.compile(r"\[\[?\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(
    r"((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _dotted(raw: str) -> str:
    return ".".join(
        p.strip().strip("\"'") for p in re.split(r"\.(?=(?:[^\"']|\"[^\"]*\"|'[^']*')*$)", raw)
    )


def _skip_value(text: str, i: int) -> int:
    """Where the value starting at ``i`` ends: strings, arrays and tables may span lines."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith(('"""', "'''"), i):
            end = text.find(text[i : i + 3], i + 3)
            i = n if end < 0 else end + 3
            while i < n and text[i] == c:  # a closing run may be four or five quotes long
                i += 1
            continue
        if c == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif c == "'":
            end = text.find("'", i + 1)
            i = n if end < 0 else end
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "\n" and depth <= 0:
            return i
        i += 1
    return n


def key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every table header and key in a TOML document, by dotted name.

    Keys inside inline tables are not listed; :func:`line_of` falls back to the
    line of the enclosing key.
    """
    lines: dict[str, int] = {}
    prefix = ""
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t\r\n":
            i += 1
            continue
        if text[i] == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        line = text.count("\n", 0, i) + 1
        header = _HEADER.match(text, i)
        if text[i] == "[" and header:
            prefix = _dotted(header.group(1))
            lines.setdefault(prefix, line)
            i = header.end()
            continue
        key = _KEY.match(text, i)
        if key is None:  # not valid TOML; tomllib has already said so
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        name = _dotted(key.group(1))
        lines.setdefault(f"{prefix}.{name}" if prefix else name, line)
        i = _skip_value(text, key.end())
    return lines


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of ``key``, else of the nearest enclosing table that is in the file."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return None
