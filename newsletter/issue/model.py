"""The issue schema: what an editor writes in ``issues/YYYY-MM.yaml``.

Plain dataclasses with no I/O, so rendering and tests can build issues in
memory. ``load.py`` turns YAML into these objects and reports errors
with line and column; nothing here knows about files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LANGUAGES = ("de", "en", "zh")


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
    src: str
    alt: str
    caption: str | None = None
    width: int | None = None
    href: str | None = None


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
    title: str
    paragraphs: tuple[str, ...] = ()
    subtitle: str | None = None
    image: Image | None = None
    facts: tuple[Fact, ...] = ()
    source: str | None = None
    links: tuple[Link, ...] = ()
    sections: tuple[Article, ...] = ()


@dataclass(frozen=True)
class ProgrammeItem:
    time: str | None
    item: str


@dataclass(frozen=True)
class Event:
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


@dataclass(frozen=True)
class Editorial:
    paragraphs: tuple[str, ...]
    salutation: str | None = None
    closing: tuple[str, ...] = ()
    signatories: tuple[Person, ...] = ()


@dataclass(frozen=True)
class Issue:
    """One monthly issue. ``month`` is the first day of the issue's month."""

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

    @property
    def slug(self) -> str:
        return self.month.strftime("%Y-%m")

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
