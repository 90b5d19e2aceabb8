"""An issue for nobody in particular: the per-recipient placeholders get their public values.

The web archive and ``newsletter render`` show this version. The unsubscribe
link points to the site's general unsubscribe page (which explains how to
leave), and a personal greeting becomes the anonymous one.
"""

from __future__ import annotations

from newsletter.i18n import get_locale
from newsletter.message.placeholders import GREETING, RECIPIENT_NAME, UNSUBSCRIBE_URL


def archive_path(slug: str, edition: str | None = None) -> str:
    """``YYYY-MM/`` for an issue's primary edition, ``YYYY-MM/zh/`` for its Chinese one."""
    return f"{slug}/{edition}/" if edition else f"{slug}/"


def archive_url(base_url: str, slug: str, edition: str | None = None) -> str:
    """``<base_url>/archive/YYYY-MM/`` (``…/YYYY-MM/zh/`` for an edition), the "view in browser"
    link of every message.

    The one definition of that address: ``newsletter serve`` and ``archive
    build`` serve exactly these pages, and a test resolves the URL taken from
    a composed message against the running server.
    """
    return f"{base_url.rstrip('/')}/archive/{archive_path(slug, edition)}"


def public_values(base_url: str, language: str) -> dict[str, str]:
    return {
        UNSUBSCRIBE_URL: f"{base_url.rstrip('/')}/unsubscribe",
        RECIPIENT_NAME: "",
        GREETING: get_locale(language)["greeting_anonymous"],
    }


def public_version(text: str, base_url: str, language: str) -> str:
    """``text`` (HTML or plain) with every placeholder replaced by its public value."""
    for placeholder, value in public_values(base_url, language).items():
        text = text.replace(placeholder, value)
    return text
