"""The public addresses every message links to, and an issue for nobody in particular.

The routes of ``newsletter serve`` are declared with the patterns below and
the composer fills the same patterns in, so a link in a message and the
route that answers it cannot drift apart (a test follows the links of a
message sent with ``campaigns send`` to a running server).

The web archive and ``newsletter render`` show the public version: the
unsubscribe and manage links point to the site's general pages (which
explain how to leave or change preferences), and a personal greeting
becomes the anonymous one.
"""

from __future__ import annotations

from newsletter.i18n import get_locale
from newsletter.message.placeholders import GREETING, MANAGE_URL, RECIPIENT_NAME, UNSUBSCRIBE_URL

# Without a token: the general pages the public version links to.
UNSUBSCRIBE_PAGE = "/unsubscribe"
MANAGE_PAGE = "/manage"
UNSUBSCRIBE_ROUTE = UNSUBSCRIBE_PAGE + "/{token}"
MANAGE_ROUTE = MANAGE_PAGE + "/{token}"


def unsubscribe_url(base_url: str, token: str) -> str:
    """``<base_url>/unsubscribe/<token>``: GET asks, POST unsubscribes (RFC 8058 one-click)."""
    return base_url.rstrip("/") + UNSUBSCRIBE_ROUTE.format(token=token)


def manage_url(base_url: str, token: str) -> str:
    """``<base_url>/manage/<token>``: the preferences page of the same unsubscribe token."""
    return base_url.rstrip("/") + MANAGE_ROUTE.format(token=token)


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
    base = base_url.rstrip("/")
    return {
        UNSUBSCRIBE_URL: base + UNSUBSCRIBE_PAGE,
        MANAGE_URL: base + MANAGE_PAGE,
        RECIPIENT_NAME: "",
        GREETING: get_locale(language)["greeting_anonymous"],
    }


def public_version(text: str, base_url: str, language: str) -> str:
    """``text`` (HTML or plain) with every placeholder replaced by its public value."""
    for placeholder, value in public_values(base_url, language).items():
        text = text.replace(placeholder, value)
    return text
