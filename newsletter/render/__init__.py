"""Render an issue once: HTML and plain text from the same model.

No per-recipient work happens here; the output carries the placeholders of
``newsletter.message.placeholders`` for ``compose`` to fill.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from markupsafe import Markup

from newsletter.config import Organisation, Settings
from newsletter.errors import IssueError
from newsletter.i18n import get_locale
from newsletter.issue.model import Issue
from newsletter.message.placeholders import GREETING, MANAGE_URL, RECIPIENT_NAME, UNSUBSCRIBE_URL
from newsletter.message.public import archive_url, public_version
from newsletter.render.colour import readable_on
from newsletter.render.html import Theme, inline_css, mjml_to_html
from newsletter.render.images import Prepared, resolve, scalable_heights
from newsletter.render.labels import with_label
from newsletter.render.language import LanguageMarks, fonts_for
from newsletter.render.text import postal_address_shown, render_text
from newsletter.render.when import when_label

GMAIL_CLIP_BYTES = 102 * 1024
# Over this no mail system delivers the message whole (many refuse 10 MB with
# headers and encoding): an error, where Gmail's clipping is only a warning.
MAX_HTML_BYTES = 5 * 1024 * 1024

# After the preheader: pairs of a zero-width non-joiner and a no-break space fill
# the inbox preview (about 140 characters) so it ends with the preheader instead of
# running on into "View in browser". Invisible, and no spam rule scores them.
PREHEADER_SPACER = Markup("&zwnj;&nbsp;" * 90)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    preheader: str | None
    language: str
    slug: str
    view_url: str
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    # The issue's local images, as the HTML references them ([media] mode).
    images: tuple[Prepared, ...] = ()

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


@cache
def _theme(custom_dir: Path | None) -> Theme:
    return Theme(custom_dir)


def view_url(issue: Issue, settings: Settings) -> str:
    """The web archive address of the issue's edition: the same for every recipient."""
    return archive_url(settings.delivery.base_url, issue.slug, issue.edition)


def organisation_for(issue: Issue, org: Organisation) -> Organisation:
    """The organisation as this edition presents it: a translated about/contact block wins."""
    if not (issue.about or issue.contact):
        return org
    return replace(org, about=issue.about or org.about, contact=issue.contact or org.contact)


def _shows_contents(issue: Issue, settings: Settings) -> bool:
    return settings.organisation.contents and len(issue.articles) > 1


def _context(issue: Issue, settings: Settings, url: str) -> dict[str, object]:
    org = organisation_for(issue, settings.organisation)
    loc = get_locale(issue.language)
    marks = LanguageMarks(issue.language)
    return {
        "issue": issue,
        "org": org,
        "colours": org.colours,
        "fonts": fonts_for(issue.language),
        "direction": loc.direction,
        "start": "right" if loc.direction == "rtl" else "left",
        "end": "left" if loc.direction == "rtl" else "right",
        # A paragraph, article or event in another language than the issue's:
        # lang_attr(p, around) inside an element, lang_open/lang_close around one.
        "lang_attr": marks.attr,
        "lang_open": marks.open,
        "lang_close": marks.close,
        # The organisation's about and contact text is in its own language unless the
        # edition translated it.
        "org_lang_attr": marks.of_text(
            issue.language if issue.about or issue.contact else settings.organisation.language
        ),
        "t": loc.strings,
        "month_label": loc.format_month(issue.month),
        "view_url": url,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "manage_url": MANAGE_URL,
        # A template that wants a personal greeting writes {{ recipient_name }};
        # compose fills in each subscriber's name (escaped) at send time.
        "recipient_name": RECIPIENT_NAME,
        "greeting": GREETING,
        "when_label": lambda ev: when_label(loc, ev),
        # The theme's label before an editor's words, unless they begin with it.
        "with_label": lambda label, words: with_label(label, words, loc["label_value"]),
        # The label colour for text on a brand colour (masthead, buttons).
        "on": lambda background: readable_on(background, dark=org.colours.text),
        "anchor": lambda key: f"nl-{key}",
        "show_postal_address": not postal_address_shown(org),
        "show_contents": _shows_contents(issue, settings),
        "preheader_spacer": PREHEADER_SPACER,
    }


def issue_mjml(issue: Issue, settings: Settings, *, theme: Theme | None = None) -> str:
    """The MJML source of ``issue`` in the organisation's theme.

    Public so the same source can be fed to another MJML compiler
    (``bench/render.py --vs-node`` does, to compare with the reference).
    """
    theme = theme or _theme(settings.templates_dir)
    return theme.render_mjml(_context(issue, settings, view_url(issue, settings)))


def render_issue(issue: Issue, settings: Settings, *, theme: Theme | None = None) -> Rendered:
    """Render ``issue`` with the organisation's theme into HTML and text.

    The theme is cached per templates folder; the preview passes a fresh
    ``theme`` after a template changed on disk.
    """
    timings: dict[str, float] = {}
    url = view_url(issue, settings)

    ti = time.perf_counter()
    m = settings.media
    issue, images = resolve(issue, m.mode, settings.delivery.base_url, m.column_width)
    t0 = time.perf_counter()
    source = issue_mjml(issue, settings, theme=theme)
    t1 = time.perf_counter()
    raw_html = mjml_to_html(source)
    t2 = time.perf_counter()
    html = scalable_heights(inline_css(raw_html))
    t3 = time.perf_counter()
    text = render_text(
        issue,
        organisation_for(issue, settings.organisation),
        get_locale(issue.language),
        url,
        contents=_shows_contents(issue, settings),
    )
    t4 = time.perf_counter()
    timings.update(images=t0 - ti, jinja=t1 - t0, mjml=t2 - t1, inline=t3 - t2, text=t4 - t3)
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise IssueError(
            f"rendered HTML is {size / 2**20:.1f} MB; the limit is {MAX_HTML_BYTES // 2**20} MB "
            "(Gmail already clips messages over 102 KB): split the issue"
        )
    return Rendered(
        subject=issue.subject,
        html=html,
        text=text,
        preheader=issue.preheader,
        language=issue.language,
        slug=issue.slug,
        view_url=url,
        timings=timings,
        images=tuple(images),
    )


def for_web(rendered: Rendered, settings: Settings) -> Rendered:
    """The issue as the public archive shows it: no recipient, so no personal parts.

    The unsubscribe and manage links point to the site's general pages and a
    personal greeting becomes the anonymous one (:mod:`newsletter.message.public`).
    """
    base, lang = settings.delivery.base_url, rendered.language
    return replace(
        rendered,
        html=public_version(rendered.html, base, lang),
        text=public_version(rendered.text, base, lang),
    )
