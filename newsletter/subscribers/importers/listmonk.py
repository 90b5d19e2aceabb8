"""listmonk: its subscriber export (``uuid,email,name,attributes,status,…``) and
its own import format (``email,name,attributes``).

A ``timezone`` attribute becomes the subscriber's time zone.
listmonk's status is per subscriber, not per list: ``blocklisted`` becomes a
manual suppression and ``disabled`` an unsubscription, so neither is mailed.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.subscribers.importers.base import (
    ParsedRow,
    RowProblem,
    parse_attributes,
    parse_time,
)
from newsletter.subscribers.status import Reason, Status

NAME = "listmonk"
TITLE = "listmonk export"
_COLUMNS = {"uuid", "email", "name", "attributes", "status", "created_at", "updated_at"}


def matches(columns: Sequence[str]) -> bool:
    return "email" in columns and (
        "uuid" in columns or set(columns) == {"email", "name", "attributes"}
    )


def extra_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c and c not in _COLUMNS]


def convert(values: dict[str, str]) -> ParsedRow:
    get = values.get
    attributes = parse_attributes(get("attributes", ""), "attributes")
    # listmonk has no time zone of its own; a `timezone` attribute is the usual stand-in
    zone = attributes.pop("timezone", None)
    if zone is not None and not isinstance(zone, str):
        raise RowProblem(f"attributes: timezone must be a name like Europe/Berlin, not {zone!r}")
    row = ParsedRow(
        email=values["email"],
        name=get("name", "").strip() or None,
        attributes=attributes,
        created_at=parse_time(get("created_at", ""), "created_at"),
        timezone=zone,
    )
    status = get("status", "").strip().lower()
    if status == "blocklisted":
        row.suppress = Reason.MANUAL
        row.suppress_detail = "blocklisted in listmonk"
    elif status == "disabled":
        row.status = Status.UNSUBSCRIBED
    elif status not in ("", "enabled"):
        raise RowProblem(f"status: unknown listmonk status {status!r}")
    return row
