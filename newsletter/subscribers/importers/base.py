"""What every subscriber file format produces: a :class:`ParsedRow`, or a :class:`RowProblem`.

Kept apart from the format registry in ``__init__`` so that a format module and the
registry never import each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from newsletter.subscribers.status import Reason, Status


class RowProblem(ValueError):
    """One cell of one row is wrong; the message names the column."""


@dataclass(slots=True)
class ParsedRow:
    """One subscriber as a file describes them, before address validation."""

    email: str
    name: str | None = None
    language: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: Status | None = None
    suppress: Reason | None = None
    suppress_detail: str | None = None
    keep_person: bool = False
    """With ``suppress``: also store the person (our own export), not only the block."""
    list_slug: str | None = None
    created_at: datetime | None = None
    subscribed_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    consent_detail: str | None = None
    """Where the file itself documents this row's consent (Mailchimp's opt-in record); it
    stands in for ``--consent-note`` and goes into the consent log."""
    timezone: str | None = None
    """The IANA zone the person gave, checked with zoneinfo when the row is read."""


def parse_time(value: str, column: str) -> datetime | None:
    """ISO 8601 or ``YYYY-MM-DD HH:MM:SS``; times without a zone are UTC (as exported)."""
    value = value.strip()
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise RowProblem(f"{column}: not a date/time: {value!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_attributes(value: str, column: str) -> dict[str, Any]:
    value = value.strip()
    if not value:
        return {}
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise RowProblem(f"{column}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise RowProblem(f'{column}: must be a JSON object like {{"city": "Berlin"}}')
    return data


def parse_status(value: str, column: str) -> Status | None:
    value = value.strip().lower()
    if not value:
        return None
    try:
        return Status(value)
    except ValueError:
        raise RowProblem(
            f"{column}: unknown status {value!r} (confirmed, unconfirmed or unsubscribed)"
        ) from None
