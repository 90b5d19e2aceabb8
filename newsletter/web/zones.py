"""The time zone select of the sign-up and manage pages: CLDR's zones, named in the page's
language by Babel, with no JavaScript.

A zone is offered as its country ("Deutschland"), or, where a country has
several, country and city ("Vereinigte Staaten – New York"), sorted by that
label. The value posted is the IANA name; anything else posted is ignored
(a person who picked nothing has no zone, and campaigns fall back to the
list's). ``campaigns schedule --local`` sends at the zone's local time.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from newsletter import languages

FIELD_MAX = 64


@cache
def _zones() -> dict[str, str]:
    """IANA name → territory code, for CLDR's zones that this machine's zoneinfo knows."""
    from babel.core import get_global

    known = available_timezones()
    territories = get_global("territory_zones")
    return {
        zone: territory
        for territory, zones in territories.items()
        for zone in zones
        if zone in known and territory.isalpha()
    }


@cache
def zone_choices(language: str) -> tuple[tuple[str, str], ...]:
    """``(IANA name, label)`` of every zone, in ``language``, sorted by label."""
    from babel import Locale
    from babel.dates import get_timezone_location

    locale = Locale.parse(languages.cldr_name(language))  # a BCP 47 tag: zh-Hans, pt-BR
    zones = _zones()
    per_territory: dict[str, int] = {}
    for territory in zones.values():
        per_territory[territory] = per_territory.get(territory, 0) + 1
    choices = []
    for zone, territory in zones.items():
        country = locale.territories.get(territory, territory)
        if per_territory[territory] > 1:
            city = get_timezone_location(zone, locale=locale, return_city=True)
            label = f"{country} – {city}"
        else:
            label = country
        choices.append((zone, label))
    return tuple(sorted(choices, key=lambda c: (c[1].casefold(), c[0])))


def chosen_zone(value: str) -> str | None:
    """The posted zone if the select offers it, else None."""
    return value if value in _zones() else None
