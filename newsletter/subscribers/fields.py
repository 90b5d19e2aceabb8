"""Small fields checked in several places: list slugs and language tags."""

from __future__ import annotations

import re
from functools import lru_cache

from newsletter.subscribers.errors import SubscriberError

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


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
    """Accept BCP 47-style tags (``de``, ``zh-Hans``); empty means "list default"."""
    if language is None or not language.strip():
        return None
    language = language.strip()
    if not _LANGUAGE.fullmatch(language):
        raise SubscriberError(
            f"invalid language {language!r}: use a code like de, en or zh-Hans", field="language"
        )
    return language
