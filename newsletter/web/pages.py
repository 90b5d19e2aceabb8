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
from markupsafe import Markup

from newsletter import languages
from newsletter.config import Settings
from newsletter.errors import BadInput
from newsletter.i18n import get_locale
from newsletter.themes import theme_environment


def web_strings(language: str) -> dict[str, str]:
    """The ``[web]`` strings of a locale."""
    return get_locale(language).strings["web"]  # type: ignore[return-value]


def accepted_language(header: str | None, allowed: list[str] | None = None) -> str | None:
    """The best available catalog for an ``Accept-Language`` header (``fr-CH`` → ``fr``)."""
    return languages.negotiate(header, allowed)


def language_choices(*keep: str | None, only: bool = False) -> list[tuple[str, str]]:
    """``[(tag, its own name)]`` for a language menu: every catalog, plus the tags in ``keep``
    (``only``: just those, in their order: the list's own choice and order).

    A stored ``fr-CH`` (served from ``fr``) is offered as itself, so a
    person whose language has no catalog of its own does not see "as the
    list" selected, and saving the page unchanged keeps what is stored.
    """
    tags = [] if only else list(languages.available())
    for tag in keep:
        if tag and tag not in tags and languages.resolve(tag):
            tags.append(tag)
    names = [(tag, _own_name(tag)) for tag in tags]
    return names if only else sorted(names, key=lambda x: x[1].casefold())


def _own_name(tag: str) -> str:
    """``Deutsch``, ``français (Suisse)``: the catalog's own name, Babel's for a variant."""
    if languages.is_available(tag):
        return get_locale(tag)["language_name"]
    from babel import Locale

    return Locale.parse(languages.cldr_name(tag)).get_display_name() or tag


class Pages:
    """Renders the theme's web pages (the subscription mails are email templates: render.mails)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = theme_environment(settings.templates_dir)
        self.base_url = settings.delivery.base_url.rstrip("/")

    def language(self, *candidates: str | None, accept: str | None = None) -> str:
        """The first candidate with a catalog (the subscriber's, then the list's language),
        else ``Accept-Language`` negotiated against the catalogs, else the organisation's."""
        for c in candidates:
            if c and languages.resolve(c):
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
            dir=languages.direction(language),
            t=web_strings(language),
            chrome=get_locale(language).strings,
            base_url=self.base_url,
            **context,
        )

    def asset(self, name: str) -> str:
        """A static file of the theme's ``web/`` folder (the stylesheet, with the org's colours)."""
        return self.env.get_template(f"web/{name}").render(
            org=self.settings.organisation,
            colours=self.settings.organisation.colours,
            fonts=Markup(languages.LATIN_FONTS),
            font_rules=Markup(languages.font_rules()),
        )
