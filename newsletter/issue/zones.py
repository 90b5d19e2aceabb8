"""Event time zones as editors write them: an IANA name or a fixed UTC offset.

``Europe/Berlin`` follows daylight saving time (zoneinfo knows when), ``+08:00``
or ``UTC+8`` never changes. Times are wall-clock times in that zone and are
never converted; this module answers "which offset does 14:00 on that day
have" and "does that time exist at all" (the hour skipped in spring).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from functools import cache

_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-−])(\d{1,2})(?::?(\d{2}))?", re.I)


class UnknownZone(ValueError):
    """Neither an IANA zone nor an offset; the message suggests the closest zone name."""


def _offset(raw: str) -> dt.timezone | None:
    m = _OFFSET.fullmatch(raw.strip())
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes > 59:
        raise UnknownZone(f"UTC offset {raw!r} is out of range (−12:00 … +14:00)")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if m.group(1) in "-−" else delta)


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone(raw: str) -> dt.tzinfo:
    """The tzinfo for ``Europe/Berlin``, ``UTC``, ``+08:00``, ``UTC+5:30`` …

    Raises UnknownZone with a did-you-mean for a misspelt name.
    """
    text = raw.strip()
    fixed = _offset(text)
    if fixed is not None:
        return fixed
    if text.upper() in ("UTC", "GMT", "Z"):
        return dt.UTC
    try:
        if "/" not in text:  # "Berlin" or "CET": not how an editor should name a zone
            raise zoneinfo.ZoneInfoNotFoundError(text)
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        names = _zone_names()
        by_city = [n for n in names if n.rsplit("/", 1)[-1].lower() == text.lower()]
        close = by_city or difflib.get_close_matches(text, names, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownZone(
            f"unknown time zone {raw!r}{hint} Use an IANA name such as 'Europe/Berlin' "
            "or an offset such as '+08:00'"
        ) from None


def is_fixed(raw: str) -> bool:
    """Whether ``raw`` is a plain offset (no zone name to show, no daylight saving)."""
    return isinstance(zone(raw), dt.timezone)


def localize(day: dt.date, hhmm: str, raw: str) -> dt.datetime:
    """The aware datetime of wall-clock ``hhmm`` on ``day`` in zone ``raw``."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(raw))


def nonexistent(day: dt.date, hhmm: str, raw: str) -> bool:
    """True for a time the clocks skip (02:30 on the last Sunday of March in Berlin)."""
    local = localize(day, hhmm, raw)
    round_trip = local.astimezone(dt.UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) != local.replace(tzinfo=None)


def utc_offset_label(offset: dt.timedelta | None) -> str:
    """``UTC+2``, ``UTC+5:30``, ``UTC−3``, ``UTC``: hours without a leading zero."""
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")
