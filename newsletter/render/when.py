"""When an event takes place, in words of the edition's language, with its time zone named.

The time is shown as the editor wrote it, never converted: a reader in
Foshan is told "14:00–17:00（中欧夏令时间，UTC+2）" and does the sum, which
is what a reader expects of a printed programme too. The zone's name comes
from CLDR (Babel) in the edition's language and for the event's day, so an
event in Berlin is "Sommerzeit" in July and "Normalzeit" in December. Babel
is imported only when an event has a zone: most issues never load it.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from newsletter.i18n import Locale
from newsletter.issue import zones
from newsletter.issue.model import Event


def when_label(loc: Locale, ev: Event) -> str:
    """``Dienstag, 13. Juli 2021, 14:00–17:00 Uhr (Mitteleuropäische Sommerzeit, UTC+2)``."""
    label = loc.format_when(ev.date, ev.start, ev.end)
    if not (ev.timezone and ev.start):
        return label
    return label + zone_label(loc, ev.timezone, ev.date, ev.start)


def zone_label(loc: Locale, raw: str, day: dt.date | None, start: str) -> str:
    """`` (Mitteleuropäische Sommerzeit, UTC+2)`` for ``Europe/Berlin`` on a July day.

    A fixed offset has no name, only ``(UTC+8)``; without a day the offset is
    unknown and the zone's generic name stands alone ("Mitteleuropäische Zeit").
    """
    parts: list[str] = []
    fixed = zones.is_fixed(raw)
    if day is None:
        parts.append(raw if fixed else _generic_name(raw, loc.cldr))
    else:
        local = zones.localize(day, start, raw)
        if not fixed:
            parts.append(_name(raw, local.replace(tzinfo=None), loc.cldr))
        parts.append(zones.utc_offset_label(local.utcoffset()))
    return loc["zone_format"].format(zone=loc["zone_separator"].join(parts))


@cache
def _name(raw: str, local: dt.datetime, language: str) -> str:
    from babel.dates import get_timezone_name

    aware = local.replace(tzinfo=zones.zone(raw))
    return get_timezone_name(aware, "long", locale=language)


@cache
def _generic_name(raw: str, language: str) -> str:
    from babel.dates import get_timezone_name

    return get_timezone_name(zones.zone(raw), "long", zone_variant="generic", locale=language)
