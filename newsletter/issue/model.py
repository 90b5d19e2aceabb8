"""The issue schema: what an editor writes in ``issues/YYYY-MM.yaml``.

Plain dataclasses with no I/O, so rendering and tests can build issues in
memory. ``load.py`` turns YAML into these objects and reports errors
with line and column; nothing here knows about files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path


class Paragraph(str):
    """A paragraph of prose that may be in another language than its surroundings.

    A ``str`` so templates and the text part treat it as the text it is; the
    optional ``language`` (a Chinese quotation in a German article) becomes a
    ``lang`` attribute in the HTML and CJK wrapping in the text part.
    """

    language: str | None

    def __new__(cls, text: str, language: str | None = None) -> Paragraph:
        self = super().__new__(cls, text)
        self.language = language
        return self


@dataclass(frozen=True)
class Link:
    """A link; ``url`` is None when the source lost the address.

    Without a label the renderer uses the localised "Read more".

    Archived issues often keep the label ("Lesen Sie mehr") but not the
    target. We record that honestly instead of inventing a URL, and the
    renderer shows the label without making it clickable.
    """

    label: str | None
    url: str | None = None


@dataclass(frozen=True)
class Image:
    """An image: ``src`` is a URL, or a file beside the issue when ``path`` is set.

    ``path`` is the local file resolved against the issue file's folder and
    ``origin`` the ``(file, line, column)`` of its ``src``, so a file that turns
    out unreadable when it is rendered is still reported where the editor wrote it.
    """

    src: str
    alt: str
    caption: str | None = None
    width: int | None = None
    href: str | None = None
    height: int | None = None
    path: Path | None = field(default=None, compare=False, repr=False)
    origin: tuple[str, int, int] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Person:
    name: str
    role: str | None = None


@dataclass(frozen=True)
class Fact:
    """A label/value pair such as "Gesamtfläche: 19.000 km2"."""

    label: str
    value: str


@dataclass(frozen=True)
class Article:
    """An article; ``id`` names it across editions, ``language`` when it differs from the issue's.

    ``line`` is where it starts in its file, for messages that compare editions.
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    subtitle: str | None = None
    image: Image | None = None
    facts: tuple[Fact, ...] = ()
    source: str | None = None
    links: tuple[Link, ...] = ()
    sections: tuple[Article, ...] = ()
    id: str | None = None
    language: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ProgrammeItem:
    time: str | None
    item: str


@dataclass(frozen=True)
class Event:
    """An event. ``start``/``end`` are wall-clock times as written, in ``timezone`` when given.

    ``timezone`` is an IANA name (``Europe/Berlin``) or a fixed offset
    (``+08:00``); times are never converted, the renderer names the zone.
    """

    title: str
    date: dt.date | None = None
    start: str | None = None
    end: str | None = None
    place: str | None = None
    paragraphs: tuple[str, ...] = ()
    programme: tuple[ProgrammeItem, ...] = ()
    speakers: tuple[Person, ...] = ()
    registration: Link | None = None
    image: Image | None = None
    links: tuple[Link, ...] = ()
    timezone: str | None = None
    id: str | None = None
    language: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Editorial:
    paragraphs: tuple[str, ...]
    salutation: str | None = None
    closing: tuple[str, ...] = ()
    signatories: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Issue:
    """One monthly issue, or one language edition of it.

    ``month`` is the first day of the issue's month. ``edition`` is the
    language code of a translation file (``2021-07.zh.yaml``) and None for
    the primary edition (``2021-07.yaml``); ``omits`` lists the ids of the
    primary's articles and events it leaves out on purpose. ``about`` and ``contact``, when
    given, replace the organisation's footer block (a translated one).
    """

    month: dt.date
    language: str
    subject: str
    title: str | None = None
    number: int | None = None
    preheader: str | None = None
    editorial: Editorial | None = None
    articles: tuple[Article, ...] = ()
    events: tuple[Event, ...] = ()
    notes: tuple[str, ...] = field(default=())
    edition: str | None = None
    omits: tuple[str, ...] = ()
    about: tuple[str, ...] = ()
    contact: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def page(self) -> str:
        """The name of this edition's file and archive page: ``2021-07`` or ``2021-07.zh``."""
        return f"{self.slug}.{self.edition}" if self.edition else self.slug

    def all_links(self) -> list[Link]:
        """Every link in reading order, for checks that look at URLs."""
        out: list[Link] = []
        for art in self.articles:
            out.extend(_article_links(art))
        for ev in self.events:
            out.extend(ev.links)
            if ev.registration:
                out.append(ev.registration)
            if ev.image and ev.image.href:
                out.append(Link(ev.image.alt, ev.image.href))
        return out


def _article_links(art: Article) -> list[Link]:
    out = list(art.links)
    if art.image and art.image.href:
        out.append(Link(art.image.alt, art.image.href))
    for sub in art.sections:
        out.extend(_article_links(sub))
    return out
