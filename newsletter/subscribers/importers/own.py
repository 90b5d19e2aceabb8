"""Our own format, as written by ``newsletter subscribers export``.

Only ``email`` is required, so a hand-made CSV with ``email,name`` works too;
columns we do not know become attributes (the import report names them).
"""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.subscribers.importers.base import (
    ParsedRow,
    RowProblem,
    parse_attributes,
    parse_status,
    parse_time,
)
from newsletter.subscribers.status import Reason

NAME = "newsletter"
TITLE = "newsletter export"
COLUMNS = (
    "email",
    "name",
    "language",
    "timezone",
    "list",
    "status",
    "created_at",
    "subscribed_at",
    "confirmed_at",
    "unsubscribed_at",
    "attributes",
    "suppressed",
)


_KNOWN = frozenset(COLUMNS)


def matches(columns: Sequence[str]) -> bool:
    return "email" in columns


def has_list_column(columns: Sequence[str]) -> bool:
    return "list" in columns


def extra_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c and c not in _KNOWN]


def convert(values: dict[str, str]) -> ParsedRow:
    get = values.get
    attributes = parse_attributes(get("attributes", ""), "attributes")
    for column, value in values.items():
        if column not in _KNOWN and column and value.strip():
            attributes.setdefault(column, value.strip())
    row = ParsedRow(
        email=values["email"],
        name=get("name", "").strip() or None,
        language=get("language", "").strip() or None,
        attributes=attributes,
        status=parse_status(get("status", ""), "status"),
        list_slug=get("list", "").strip() or None,
        created_at=parse_time(get("created_at", ""), "created_at"),
        subscribed_at=parse_time(get("subscribed_at", ""), "subscribed_at"),
        confirmed_at=parse_time(get("confirmed_at", ""), "confirmed_at"),
        unsubscribed_at=parse_time(get("unsubscribed_at", ""), "unsubscribed_at"),
        timezone=get("timezone", "").strip() or None,
    )
    suppressed = get("suppressed", "").strip().lower()
    if suppressed:
        try:
            row.suppress = Reason(suppressed)
        except ValueError:
            raise RowProblem(f"suppressed: unknown reason {suppressed!r}") from None
        row.keep_person = True
    return row
