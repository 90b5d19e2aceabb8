"""Rows as CSV or JSON, streamed: shared by CLI listings and subscriber exports.

Both writers emit one row at a time, so a million-row export needs no more
memory than a ten-row listing. JSON output puts one object per line inside
the array, which keeps it greppable and lets the importer read it line by line.

CSV files get opened in spreadsheets, and a name like ``=HYPERLINK(…)`` typed
into a signup form would run there as a formula. So CSV cells starting with
``= + - @``, tab or carriage return get a leading ``'`` (OWASP's advice; the
spreadsheet then shows the text). :func:`unescape_formula` undoes it exactly,
so an export still imports back unchanged.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO


def cell(value: Any, *, short: bool = False) -> str:
    """How a value looks in a CSV cell or table: ISO times, JSON objects, empty None.

    ``short`` is for tables read by people: times to the minute.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if short else value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


_FORMULA_START = frozenset("=+-@\t\r")
# escape_formula leaves text starting with any other character alone, so a
# million-row writer can test the first character before calling it.
ESCAPABLE_START = _FORMULA_START | {"'"}


def escape_formula(text: str) -> str:
    """``text`` made safe for a spreadsheet cell: ``'`` before a formula start.

    Text that already starts with quotes before a formula start gets one more,
    so :func:`unescape_formula` can tell the two apart.
    """
    first = text[:1]
    if first in _FORMULA_START or (first == "'" and text.lstrip("'")[:1] in _FORMULA_START):
        return "'" + text
    return text


def unescape_formula(text: str) -> str:
    """The text :func:`escape_formula` was given."""
    if text[:1] == "'" and text.lstrip("'")[:1] in _FORMULA_START:
        return text[1:]
    return text


def json_default(value: Any) -> Any:
    """``json.dumps(default=…)`` for our values: ISO 8601 times."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def iso_time(value: str | datetime) -> str:
    """What :func:`cell` writes for a stored UTC time, from the driver's raw value.

    Driver-level readers (exports, the delivery log) skip SQLAlchemy's type
    processing: SQLite then hands back SQLAlchemy's storage text
    ``YYYY-MM-DD HH:MM:SS.ffffff``, PostgreSQL an aware datetime.
    """
    if isinstance(value, datetime):
        return cell(value.astimezone(UTC))
    if len(value) == 26:  # the storage format: slicing is 3× faster than parsing
        clock = value[11:19] if value.endswith(".000000") else value[11:]
        return f"{value[:10]}T{clock}+00:00"
    date, _, clock = value.partition(" ")
    seconds, _, fraction = clock.partition(".")
    if fraction.strip("0"):
        return f"{date}T{seconds}.{fraction}+00:00"
    return f"{date}T{seconds}+00:00"


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> int:
    """Write a header and the rows (formulas defused); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([escape_formula(cell(row.get(c))) for c in columns])
        n += 1
    return n


def write_json(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> int:
    """Write a JSON array of objects with ``columns`` as keys; returns the number of rows."""
    out.write("[")
    n = 0
    for row in rows:
        out.write(",\n" if n else "\n")
        out.write(
            json.dumps(
                {c: row.get(c) for c in columns},
                ensure_ascii=False,
                sort_keys=False,
                default=json_default,
            )
        )
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n
