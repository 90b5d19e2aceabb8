"""Mailchimp audience exports (``subscribed_members_export_….csv`` and friends).

Mailchimp splits an audience into three files. The unsubscribed one has
``UNSUB_TIME`` and the cleaned (hard-bounced) one ``CLEAN_TIME``: importing
them records those people as unsubscribed or suppressed, so moving from
Mailchimp cannot resurrect them. Merge fields other than the name become
attributes; Mailchimp's tracking columns (ratings, IPs, geo data) are dropped
on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsletter.subscribers.importers.base import ParsedRow, parse_time
from newsletter.subscribers.status import Reason, Status

NAME = "mailchimp"
TITLE = "Mailchimp audience export"
_SYSTEM = {
    "email address",
    "first name",
    "last name",
    "language",
    "member_rating",
    "optin_time",
    "optin_ip",
    "confirm_time",
    "confirm_ip",
    "latitude",
    "longitude",
    "gmtoff",
    "dstoff",
    "timezone",
    "cc",
    "region",
    "last_changed",
    "leid",
    "euid",
    "notes",
    "tags",
    "unsub_time",
    "unsub_campaign_title",
    "unsub_campaign_id",
    "unsub_reason",
    "unsub_reason_other",
    "clean_time",
    "clean_campaign_title",
    "clean_campaign_id",
}


def matches(columns: Sequence[str]) -> bool:
    return "email address" in columns


def extra_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c and c not in _SYSTEM]


def convert(values: dict[str, str]) -> ParsedRow:
    get = values.get
    name = " ".join(p for p in (get("first name", "").strip(), get("last name", "").strip()) if p)
    row = ParsedRow(
        email=values["email address"],
        name=name or None,
        language=get("language", "").strip() or None,
        attributes={
            c: v.strip() for c, v in values.items() if c not in _SYSTEM and c and v.strip()
        },
        subscribed_at=parse_time(get("optin_time", ""), "OPTIN_TIME"),
        confirmed_at=parse_time(get("confirm_time", ""), "CONFIRM_TIME"),
    )
    if "clean_time" in values:
        row.suppress = Reason.BOUNCED
        row.suppress_detail = "cleaned in Mailchimp"
    elif "unsub_time" in values:
        row.status = Status.UNSUBSCRIBED
        row.unsubscribed_at = parse_time(values["unsub_time"], "UNSUB_TIME")
    return row
