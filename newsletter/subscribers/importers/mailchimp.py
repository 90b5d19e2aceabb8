"""Mailchimp audience exports (``subscribed_members_export_….csv`` and friends).

Mailchimp splits an audience into three files. The subscribed one is consent
Mailchimp recorded (``OPTIN_TIME``, and ``CONFIRM_TIME`` after a double opt-in):
those people arrive confirmed, with the original times in the consent log. The
unsubscribed one has ``UNSUB_TIME`` and the cleaned (hard-bounced) one
``CLEAN_TIME``: importing them records those people as unsubscribed or
suppressed, so moving from Mailchimp cannot resurrect them. Merge fields other
than the name, and the tags (as a list), become attributes; Mailchimp's
tracking columns (ratings, IPs, geo data) are dropped on purpose, except the
time zone (``TIMEZONE``, else the one zone of the country ``CC``, if it has
one): it lets campaigns reach each person at their local time.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime

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
    return [c for c in columns if c and (c not in _SYSTEM or c == "tags")]


def _tags(value: str) -> list[str]:
    """``"Kunden","VIP"``: Mailchimp quotes each tag and separates them with commas."""
    return [t.strip() for t in next(csv.reader([value]), []) if t.strip()]


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


# China keeps one official time; CLDR also lists Asia/Urumqi (UTC+6, unofficial).
_COUNTRY_ZONES = {"CN": "Asia/Shanghai"}


def zone_of_country(cc: str) -> str | None:
    """Mailchimp's ``CC`` (a country code, from geolocation) as a zone, when the country has
    one: all its CLDR zones keep the same UTC offsets (DE: Berlin and Büsingen), else none."""
    cc = cc.strip().upper()
    if not cc:
        return None
    if cc in _COUNTRY_ZONES:
        return _COUNTRY_ZONES[cc]
    from babel.core import get_global

    zones = get_global("territory_zones").get(cc, [])
    if not zones:
        return None
    from zoneinfo import ZoneInfo

    probes = [datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)]
    offsets = {tuple(t.astimezone(ZoneInfo(z)).utcoffset() for t in probes) for z in zones}
    return zones[0] if len(offsets) == 1 else None


def convert(values: dict[str, str]) -> ParsedRow:
    get = values.get
    name = " ".join(p for p in (get("first name", "").strip(), get("last name", "").strip()) if p)
    attributes: dict[str, object] = {
        c: v.strip() for c, v in values.items() if c not in _SYSTEM and c and v.strip()
    }
    tags = _tags(get("tags", ""))
    if tags:
        attributes["tags"] = tags
    optin = parse_time(get("optin_time", ""), "OPTIN_TIME")
    confirm = parse_time(get("confirm_time", ""), "CONFIRM_TIME")
    row = ParsedRow(
        email=values["email address"],
        name=name or None,
        language=get("language", "").strip() or None,
        attributes=attributes,
        subscribed_at=optin,
        confirmed_at=confirm,
        timezone=get("timezone", "").strip() or zone_of_country(get("cc", "")),
    )
    if "clean_time" in values:
        row.suppress = Reason.BOUNCED
        row.suppress_detail = "cleaned in Mailchimp"
    elif "unsub_time" in values:
        row.status = Status.UNSUBSCRIBED
        row.unsubscribed_at = parse_time(values["unsub_time"], "UNSUB_TIME")
    elif confirm or optin:
        # The subscribed export: Mailchimp holds these people's consent.
        row.status = Status.CONFIRMED
        row.confirmed_at = confirm or optin
        parts = [f"opted in {_utc(optin)}"] if optin else []
        if confirm:
            parts.append(f"confirmed {_utc(confirm)}")
        row.consent_detail = "Mailchimp: " + ", ".join(parts)
    return row
