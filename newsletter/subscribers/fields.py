"""Small fields checked in several places: list slugs, language tags and names.

The length limits are the column sizes in ``newsletter/subscribers/tables.py``: SQLite
would store anything, PostgreSQL would fail the whole import on the row.
"""

from __future__ import annotations

import re
from functools import lru_cache

from newsletter import languages
from newsletter.errors import BadInput
from newsletter.subscribers.errors import SubscriberError

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
NAME_MAX = 400
LANGUAGE_MAX = 35


def check_slug(slug: str) -> str:
    """Slugs end up in URLs and file names, so keep them boring."""
    if not _SLUG.fullmatch(slug):
        raise SubscriberError(
            f"invalid list slug {slug!r}: use lower-case letters, digits and '-' "
            "(at most 64, starting with a letter or digit)",
            field="slug",
        )
    return slug


@lru_cache(maxsize=256)
def check_language(language: str | None) -> str | None:
    """Accept BCP 47 tags with a catalog on their fallback path; empty means "list default".

    ``fr-CH`` is kept as written and served from ``fr``
    (:func:`language_warning` says so); a tag nothing falls back to is refused.
    """
    if language is None or not language.strip():
        return None
    language = language.strip()
    if len(language) > LANGUAGE_MAX or not _LANGUAGE.fullmatch(language):
        raise SubscriberError(
            f"invalid language {language!r}: use a code like de, en or zh-Hans", field="language"
        )
    try:
        languages.accept_with_fallback(language)
    except BadInput as exc:
        raise SubscriberError(str(exc), field="language") from None
    return language


def language_warning(language: str | None) -> str | None:
    """What to tell the operator about a tag served from another catalog, or None."""
    if not language or languages.is_available(language) or not languages.resolve(language):
        return None
    return languages.accept_with_fallback(language)[1]


def check_name(name: str | None) -> str | None:
    """A person's name fits its column (a pasted paragraph does not)."""
    if name is not None and len(name) > NAME_MAX:
        raise SubscriberError(
            f"too long ({len(name):,} characters, at most {NAME_MAX})",
            field="name",
        )
    return name


TIMEZONE_MAX = 64


@lru_cache(maxsize=512)
def check_timezone(zone: str | None) -> str | None:
    """An IANA zone name zoneinfo knows (``Europe/Berlin``); empty means "none given"."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if zone is None or not zone.strip():
        return None
    zone = zone.strip()
    try:
        if len(zone) > TIMEZONE_MAX or ("/" not in zone and zone != "UTC"):
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SubscriberError(
            f"unknown time zone {zone!r}: use an IANA name such as Europe/Berlin or Asia/Shanghai",
            field="timezone",
        ) from None
    return zone
