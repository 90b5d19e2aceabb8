"""Pages from the theme: the Jinja2 search path, the page language, the strings.

Web pages live in the theme's ``web/`` folder, found on the same search
path as the email templates (``render.html.Theme``): the organisation's
``templates_dir`` first, then the default theme, so an organisation restyles
one page by dropping ``web/<name>`` into its folder, and ``default/web/…``
still reaches the original. Autoescaping is on; no page has a script.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateNotFound

from newsletter.config import Settings
from newsletter.errors import BadInput
from newsletter.i18n import get_locale
from newsletter.issue.model import LANGUAGES
from newsletter.themes import theme_environment


def web_strings(language: str) -> dict[str, str]:
    """The ``[web]`` strings of a locale."""
    return get_locale(language).strings["web"]  # type: ignore[return-value]


def accepted_language(header: str | None) -> str | None:
    """The first of de/en/zh in an ``Accept-Language`` header, by its q-values."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else None


class Pages:
    """Renders the theme's web pages (the subscription mails are email templates: render.mails)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = theme_environment(settings.templates_dir)
        self.base_url = settings.delivery.base_url.rstrip("/")

    def language(self, *candidates: str | None, accept: str | None = None) -> str:
        """The first known language of the candidates, else ``Accept-Language``, else the org's."""
        for c in candidates:
            if c in LANGUAGES:
                return c
        return accepted_language(accept) or self.settings.organisation.language

    def render(self, name: str, language: str, /, **context: Any) -> str:
        """``web/<name>`` in ``language``, with the organisation and the strings in context."""
        try:
            template = self.env.get_template(f"web/{name}")
        except TemplateNotFound as exc:
            raise BadInput(f"template not found: {exc.name}") from exc
        return template.render(
            org=self.settings.organisation,
            colours=self.settings.organisation.colours,
            lang=language,
            t=web_strings(language),
            chrome=get_locale(language).strings,
            base_url=self.base_url,
            **context,
        )

    def asset(self, name: str) -> str:
        """A static file of the theme's ``web/`` folder (the stylesheet, with the org's colours)."""
        return self.env.get_template(f"web/{name}").render(
            org=self.settings.organisation, colours=self.settings.organisation.colours
        )
