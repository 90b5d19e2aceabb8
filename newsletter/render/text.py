"""The plain-text part, built from the model (not scraped from the HTML).

Mail clients that show text, screen readers and spam filters all read it, so
it carries everything the HTML does: editorial, articles, events, sources and
the legal footer, with links as numbered references listed at the end.
"""

from __future__ import annotations

from newsletter.config import Organisation
from newsletter.i18n import Locale
from newsletter.issue.model import Article, Event, Issue, Link
from newsletter.message import placeholders
from newsletter.render.inline import References, to_text
from newsletter.render.labels import with_label
from newsletter.render.language import direction, is_cjk, language_of
from newsletter.render.when import when_label
from newsletter.render.wrap import display_width, wrap

WIDTH = 78


def _heading(title: str, underline: str, cjk: bool = False) -> list[str]:
    lines = wrap(title, WIDTH, cjk=cjk)
    return [*lines, underline * min(WIDTH, max(display_width(x, cjk) for x in lines))]


def _rtl(lines: list[str], language: str | None) -> list[str]:
    """Lines of right-to-left text start with a right-to-left mark (U+200F).

    Plain-text viewers pick each line's direction from its first strong
    character; a line of Arabic that starts with a number, a URL or a Latin
    name would otherwise be laid out left to right. The mark is invisible.
    """
    if direction(language) != "rtl":
        return lines
    return ["\u200f" + line if line.strip() else line for line in lines]


class _Text:
    """The text part being written; ``lang`` is the language of what is written now.

    An article or paragraph in Chinese is wrapped as Chinese (ambiguous-width
    marks count double) even in a German issue, and the other way round.
    """

    def __init__(self, loc: Locale) -> None:
        self.loc = loc
        self.refs = References()
        self.out: list[str] = []
        self.lang = loc.code

    @property
    def cjk(self) -> bool:
        return is_cjk(self.lang)

    def blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")

    def para(self, source: str, indent: str = "") -> None:
        lang = language_of(source) or self.lang
        lines = wrap(to_text(source, self.refs), WIDTH, indent, cjk=is_cjk(lang))
        self.out.extend(_rtl(lines, lang))
        self.blank()

    def plain(self, s: str, indent: str = "") -> None:
        self.out.extend(_rtl(wrap(s, WIDTH, indent, cjk=self.cjk), self.lang))

    def link(self, link: Link, about: str | None = None) -> None:
        # A link whose address was lost is left out, as in the HTML. Without a label it
        # names what it is about: "Read more" alone says nothing out of context.
        if link.url:
            label = link.label or (
                self.loc["read_more_about"].format(title=about) if about else self.loc["read_more"]
            )
            self.plain(f"{label} [{self.refs.number(link.url)}]")

    def article(self, art: Article, level: int = 2) -> None:
        outer, self.lang = self.lang, art.language or self.lang
        self._article(art, level)
        self.lang = outer

    def _article(self, art: Article, level: int) -> None:
        self.out.extend(_heading(art.title, "=" if level == 2 else "-", self.cjk))
        self.blank()
        if art.subtitle:
            self.plain(art.subtitle)
            self.blank()
        if art.image:
            self.plain(f"[{art.image.alt}]" if art.image.alt else "")
            if art.image.caption:
                self.plain(art.image.caption)
            self.blank()
        for p in art.paragraphs:
            self.para(p)
        for fact in art.facts:
            self.plain(self.loc["label_value"].format(label=fact.label, value=fact.value), "")
        if art.facts:
            self.blank()
        for sub in art.sections:
            self.article(sub, level + 1)
        if art.source:
            self.plain(with_label(self.loc["source"], art.source, self.loc["label_value"]))
            self.blank()
        for link in art.links:
            self.link(link, art.title)
        self.blank()

    def event(self, ev: Event) -> None:
        outer, self.lang = self.lang, ev.language or self.lang
        self._event(ev)
        self.lang = outer

    def _event(self, ev: Event) -> None:
        self.out.extend(_heading(ev.title, "-", self.cjk))
        self.blank()
        when = when_label(self.loc, ev)
        if when:
            self.plain(f"{self.loc['when']} {when}")
        if ev.place:
            self.plain(f"{self.loc['place']} {ev.place}")
        self.blank()
        for p in ev.paragraphs:
            self.para(p)
        if ev.programme:
            self.plain(self.loc["programme"])
            for item in ev.programme:
                prefix = f"  {item.time}  " if item.time else "  - "
                self.out.extend(wrap(item.item, WIDTH, prefix, " " * len(prefix), cjk=self.cjk))
            self.blank()
        if ev.speakers:
            self.plain(self.loc["speakers"])
            for sp in ev.speakers:
                line = sp.name + (f", {sp.role}" if sp.role else "")
                self.out.extend(wrap(line, WIDTH, "  - ", "    ", cjk=self.cjk))
            self.blank()
        if ev.registration:
            reg = ev.registration
            if reg.url:
                self.link(Link(reg.label or self.loc["registration"], reg.url))
            elif reg.label:  # "Registration: at the door" is information, not a link
                self.plain(with_label(self.loc["registration"], reg.label, self.loc["label_value"]))
        for link in ev.links:
            self.link(link, ev.title)
        self.blank()


def postal_address_shown(org: Organisation) -> bool:
    """Whether the contact block already carries every part of the postal address.

    The footer then shows the address once, in the contact block.
    """
    contact = " ".join(" ".join(org.contact).split())
    parts = [" ".join(p.split()) for p in org.postal_address.replace("\n", ",").split(",")]
    return bool(org.contact) and all(p in contact for p in parts if p)


def render_text(
    issue: Issue, org: Organisation, loc: Locale, view_url: str, *, contents: bool = False
) -> str:
    """Render the whole issue as wrapped plain text (≤ 78 columns except long URLs)."""
    t = _Text(loc)
    title = issue.title or org.name
    t.out.extend(_heading(f"{title} – {loc.format_month(issue.month)}", "#", t.cjk))
    if issue.number:
        t.plain(loc["issue_number"].format(number=issue.number))
    t.plain(loc["label_value"].format(label=loc["view_in_browser"], value=view_url))
    t.blank()
    if contents:
        t.plain(loc["articles"])
        for art in issue.articles:
            t.out.extend(wrap(art.title, WIDTH, "  - ", "    "))
        if issue.events:
            t.plain(f"  - {loc['events']}")
        t.blank()
    if issue.editorial:
        ed = issue.editorial
        if ed.salutation:
            t.para(ed.salutation)
        for p in ed.paragraphs:
            t.para(p)
        for line in ed.closing:
            t.plain(line)
        t.blank()
        for s in ed.signatories:
            t.plain(s.name)
            if s.role:
                t.plain(s.role)
            t.blank()
    for art in issue.articles:
        t.blank()
        t.article(art)
    if issue.events:
        t.blank()
        t.out.extend(_heading(loc["events"], "=", t.cjk))
        t.blank()
        for ev in issue.events:
            t.event(ev)
    t.blank()
    t.out.append("-" * WIDTH)
    for p in org.about:
        t.plain(p)
        t.blank()
    if org.contact:
        for line in org.contact:
            t.plain(line)
        t.blank()
    if not postal_address_shown(org):
        t.plain(org.postal_address.replace("\n", ", "))
        t.blank()
    t.plain(loc["unsubscribe_text"])
    t.out.append(placeholders.UNSUBSCRIBE_URL)
    t.blank()
    t.plain(loc["manage_text"])
    t.out.append(placeholders.MANAGE_URL)
    t.blank()
    if t.refs.urls:
        t.plain(loc["links"])
        for i, u in enumerate(t.refs.urls, 1):
            t.out.append(f"[{i}] {u}")
    while t.out and t.out[-1] == "":
        t.out.pop()
    return "\n".join(t.out) + "\n"
