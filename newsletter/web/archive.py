"""The web archive: every sent issue as a page, an index, an Atom feed and a sitemap.

One builder makes the files for both places the archive lives: ``newsletter
serve`` keeps them in memory and serves ``/archive/…`` from there, and
``newsletter archive build DIR`` writes them to a folder for any static
host. The layout (relative to ``<base_url>/archive/``)::

    index.html            newest first
    style.css
    YYYY-MM/index.html    the issue's web version (the "view in browser" link)
    YYYY-MM/zh/index.html the issue's Chinese edition, if it has one; each edition
                          links the others (hreflang) and offers a language switch
    feed.atom             full content, one entry per edition, dated by the real send date
    sitemap.xml

Entries come from the database (campaigns that started sending: the date is
when) or from issue files (dated by their month). An issue's page is the
mail's HTML with the public values in its placeholders, a bar back to the
index and a canonical link; :func:`page_path` is the one place that maps an
entry to its file.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from markupsafe import Markup
from sqlmodel import Session, select

from newsletter.campaigns.tables import Campaign, CampaignEdition, CampaignStatus
from newsletter.config import Settings
from newsletter.errors import IssueError
from newsletter.fsutil import publish_folder
from newsletter.i18n import get_locale
from newsletter.message import media
from newsletter.message.public import archive_path, archive_url, public_version
from newsletter.web.pages import Pages, web_strings

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    **media.TYPES,
}
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)
_BODY = re.compile(r"<body\b[^>]*>(.*)</body>", re.I | re.S)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style>\s*", re.I | re.S)


@dataclass(frozen=True)
class Entry:
    """One issue as the archive shows it; ``html`` is the mail's HTML, placeholders and all."""

    slug: str
    language: str
    subject: str
    html: str
    published: dt.datetime
    edition: str | None = None  # the language code of a translation; None for the primary


def page_path(entry: Entry) -> str:
    """The entry's folder under ``/archive/``: ``2021-07/``, ``2021-07/zh/`` for an edition."""
    return archive_path(entry.slug, entry.edition)


def entries_from_database(session: Session) -> list[Entry]:
    """Issues that went out to subscribers, once each, dated by their first send."""
    first = (
        sa.select(sa.func.min(Campaign.id))
        .where(Campaign.kind == "campaign", Campaign.started_at.is_not(None))  # type: ignore[arg-type, union-attr]
        .group_by(Campaign.issue_slug)
    )
    rows = session.exec(
        select(Campaign).where(Campaign.id.in_(first))  # type: ignore[union-attr]
    ).all()
    entries = [
        Entry(c.issue_slug, c.language or "en", c.subject, c.html, c.started_at)  # type: ignore[arg-type]
        for c in rows
    ]
    started = {c.id: c for c in rows}
    others = session.exec(
        select(CampaignEdition).where(CampaignEdition.campaign_id.in_(list(started)))  # type: ignore[attr-defined]
    ).all()
    entries += [
        Entry(
            started[e.campaign_id].issue_slug,
            e.language,
            e.subject,
            e.html,
            started[e.campaign_id].started_at,  # type: ignore[arg-type]
            e.language,
        )
        for e in others
    ]
    return _ordered(entries)


def _ordered(entries: list[Entry]) -> list[Entry]:
    """Newest first; an issue's primary edition before its translations, those by language."""
    entries = sorted(entries, key=lambda e: e.edition or "")
    return sorted(entries, key=lambda e: (e.published, e.slug), reverse=True)


def entries_from_files(paths: Iterable[Path], settings: Settings) -> list[Entry]:
    """Render issue files (validated first, all or nothing), dated by their month."""
    from newsletter.issue.load import load_issue
    from newsletter.render import render_issue

    issues, problems = [], []
    for path in paths:
        try:
            issues.append(load_issue(path))
        except IssueError as exc:
            problems.extend(exc.problems)
    if problems:
        raise IssueError(problems)
    slugs = [i.page for i in issues]
    twice = sorted({s for s in slugs if slugs.count(s) > 1})
    if twice:
        raise IssueError(f"two files for the same month: {', '.join(twice)}")
    entries = []
    for issue in issues:
        r = render_issue(issue, settings)
        when = dt.datetime.combine(issue.month, dt.time(), dt.UTC)
        html = media.embed(r.html, [i.file for i in r.images])  # as a campaign stores it
        entries.append(Entry(issue.slug, issue.language, r.subject, html, when, issue.edition))
    return _ordered(entries)


def pending_media(session: Session, base_url: str) -> dict[str, bytes]:
    """The images of campaigns not yet started, so they are published before the first mail.

    A hosted image must be online when the first reader opens the message;
    ``campaigns send --online`` checks, and the names are content hashes, so
    publishing one early reveals no more than the (unguessable) name.
    """
    rows = session.exec(
        select(Campaign.html).where(
            Campaign.kind == "campaign",
            Campaign.started_at.is_(None),  # type: ignore[union-attr]
            Campaign.status != CampaignStatus.CANCELLED.value,
            Campaign.html.contains("data:image/"),  # type: ignore[attr-defined]
        )
    ).all()
    now = dt.datetime.now(dt.UTC)
    return _media_files([Entry("", "", "", html, now) for html in rows], base_url)[1]


def _media_files(entries: list[Entry], base_url: str) -> tuple[list[Entry], dict[str, bytes]]:
    """Each entry's embedded images as ``media/<name>`` files, its page referencing them there."""
    files: dict[str, bytes] = {}
    out = []
    for e in entries:
        html, found = media.extract(e.html, lambda name: media.hosted_url(base_url, name))
        files.update((f"{media.MEDIA_DIR}/{f.name}", f.data) for f in found)
        out.append(replace(e, html=html) if found else e)
    return out, files


def latest_url(session: Session, base_url: str) -> str | None:
    """The web address of the newest sent issue (for the welcome mail), if any."""
    entries = [e for e in entries_from_database(session) if e.edition is None]
    return archive_url(base_url, entries[0].slug) if entries else None


def _date_label(language: str, when: dt.datetime) -> str:
    return web_strings(language)["sent_on"].format(date=get_locale(language).format_date(when))


def editions_by_issue(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Each issue's entries, its primary edition first."""
    out: dict[str, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: e.edition or ""):
        out.setdefault(e.slug, []).append(e)
    return out


def _alternates(entry: Entry, siblings: list[Entry], base: str) -> Markup:
    """``<link rel="alternate" hreflang>`` for every edition (itself included), and x-default."""
    if len(siblings) < 2:
        return Markup("")
    links = [(e.language, f"{base}/archive/{page_path(e)}") for e in siblings]
    links.append(("x-default", links[0][1]))
    return Markup("").join(
        Markup('<link rel="alternate" hreflang="{}" href="{}">\n').format(lang, href)
        for lang, href in links
    )


def _switch(entry: Entry, siblings: list[Entry]) -> list[dict[str, object]]:
    """The language switch of an edition's page: each edition by its own name, relative links."""
    if len(siblings) < 2:
        return []
    up = "../" * page_path(entry).count("/")
    return [
        {
            "href": up + page_path(e),
            "language": e.language,
            "name": get_locale(e.language)["language_name"],
            "current": e is entry,
        }
        for e in siblings
    ]


def issue_page(entry: Entry, pages: Pages, siblings: list[Entry] | None = None) -> str:
    """The mail's HTML as a public page: placeholders filled, a bar back to the index.

    ``siblings`` are the issue's editions (``entry`` among them): the page
    names each as an ``hreflang`` alternate and the bar offers a switch.
    """
    base = pages.base_url
    siblings = siblings or [entry]
    html = public_version(entry.html, base, entry.language)
    bar = pages.render(
        "archive_bar.html.j2",
        entry.language,
        date_label=_date_label(entry.language, entry.published),
        index_href="../" * page_path(entry).count("/"),
        editions=_switch(entry, siblings),
    )
    # The bar's own rules (its dark mode) belong in <head> with the mail's: a
    # <style> in <body> is invalid HTML. The bar's template keeps them next to the
    # markup they style, so a theme overriding it overrides both; they move here
    # (a page without a head, never made by MJML, keeps them with the bar).
    styles = Markup("")
    if "</head>" in html:
        styles = Markup("").join(Markup(m.group(0)) for m in _STYLE.finditer(bar))
        bar = _STYLE.sub("", bar)
    head = Markup('<link rel="canonical" href="{}">\n').format(f"{base}/archive/{page_path(entry)}")
    head += _alternates(entry, siblings, base) + styles
    # Markup + "</head>" would escape the str half: the page then showed a literal
    # "</head>" as its first visible text. Both halves are markup here.
    html = html.replace("</head>", head + Markup("</head>"), 1)
    m = _BODY_OPEN.search(html)
    if m is None:
        return str(bar) + html
    return html[: m.end()] + bar + html[m.end() :]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(entries: list[Entry], pages: Pages) -> bytes:
    """An Atom feed (RFC 4287) with every issue's full content."""
    org = pages.settings.organisation
    index = f"{pages.base_url}/archive/"
    ET.register_namespace("", ATOM)
    feed = ET.Element(
        f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": org.language}
    )

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        el.text = text
        return el

    sub(feed, "title", org.name)
    sub(feed, "id", index)
    sub(feed, "link", rel="self", href=index + "feed.atom")
    sub(feed, "link", rel="alternate", href=index, type="text/html")
    sub(feed, "updated", _iso(entries[0].published) if entries else "1970-01-01T00:00:00Z")
    author = sub(feed, "author")
    sub(author, "name", org.name)
    for e in entries:
        url = index + page_path(e)
        # one entry per edition, each in its own language
        item = sub(feed, "entry", **{"{http://www.w3.org/XML/1998/namespace}lang": e.language})
        sub(item, "title", e.subject)
        sub(item, "id", url)
        sub(item, "link", rel="alternate", href=url, type="text/html", hreflang=e.language)
        sub(item, "published", _iso(e.published))
        sub(item, "updated", _iso(e.published))
        body = public_version(e.html, pages.base_url, e.language)
        m = _BODY.search(body)
        sub(item, "content", m.group(1).strip() if m else body, type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def sitemap(entries: list[Entry], base_url: str) -> bytes:
    ET.register_namespace("", SITEMAP)
    urlset = ET.Element(f"{{{SITEMAP}}}urlset")
    index = f"{base_url}/archive/"
    for loc, when in [(index, entries[0].published if entries else None)] + [
        (index + page_path(e), e.published) for e in entries
    ]:
        url = ET.SubElement(urlset, f"{{{SITEMAP}}}url")
        ET.SubElement(url, f"{{{SITEMAP}}}loc").text = loc
        if when is not None:
            ET.SubElement(url, f"{{{SITEMAP}}}lastmod").text = when.date().isoformat()
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)


def build_site(entries: list[Entry], pages: Pages) -> dict[str, bytes]:
    """Every file of the archive, by path relative to ``/archive/``."""
    lang = pages.settings.organisation.language
    entries, images = _media_files(entries, pages.base_url)
    by_issue = editions_by_issue(entries)
    listed = [
        {
            "path": page_path(e),
            "subject": e.subject,
            "language": e.language,
            "date_label": get_locale(lang).format_date(e.published),
            # the issue's other editions, by their own language's name
            "editions": [
                {
                    "path": page_path(x),
                    "language": x.language,
                    "name": get_locale(x.language)["language_name"],
                }
                for x in by_issue[e.slug][1:]
            ],
        }
        for e in entries
        if e is by_issue[e.slug][0]
    ]
    index = pages.render(
        "archive.html.j2",
        lang,
        entries=listed,
        static="",
        feed_url=f"{pages.base_url}/archive/feed.atom",
    )
    files = {
        "index.html": index.encode(),
        "style.css": pages.asset("style.css.j2").encode(),
        "feed.atom": atom_feed(entries, pages),
        "sitemap.xml": sitemap(entries, pages.base_url),
        **images,
    }
    for e in entries:
        files[page_path(e) + "index.html"] = issue_page(e, pages, by_issue[e.slug]).encode()
    return files


def write_site(files: dict[str, bytes], out_dir: Path) -> Path:
    """Publish the files as ``out_dir``: a link to a fresh build, swapped in one rename.

    A reader (or the static host) sees the old archive or the new one, never
    half of each and never no folder (:func:`newsletter.fsutil.publish_folder`).
    An existing ``out_dir`` is replaced only if it is an archive we built (our
    link, or a folder with ``feed.atom``), so a typo cannot delete a folder of
    other files. Returns the build folder the link points to.
    """
    return publish_folder(files, out_dir, marker="feed.atom")
