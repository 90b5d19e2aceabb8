"""The words of one language: chrome strings from its gettext catalog, dates from CLDR.

Strings come from ``newsletter.po`` catalogs (:mod:`newsletter.languages`
finds them). Each entry's ``msgctxt`` is its key (``read_more``,
``web.manage_title``), its ``msgid`` the English text and its ``msgstr``
the translation, so Poedit, Weblate or Transifex show translators the
English next to their own, and ``get_locale(code)[key]`` stays the one API
of templates and code. An empty or fuzzy translation falls back to English;
a theme's catalog overrides the package's entry by entry, so correcting one
string is a catalog with that one entry.

Months, weekdays, dates, zone names, numbers and list punctuation come from
CLDR through Babel, never from hand-written tables. We do not use the system
locale: a server's ``LANG`` must not change what subscribers read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton
from babel.lists import format_list as _babel_list
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from newsletter import languages


@dataclass(frozen=True)
class Locale:
    """``code`` as written (``zh``), ``catalog`` the tag it resolved to (``zh-Hans``)."""

    code: str
    catalog: str
    strings: dict[str, object] = field(repr=False)

    def __getitem__(self, key: str) -> str:
        section, _, name = key.rpartition(".")
        table = self.strings[section] if section else self.strings
        return str(table[name])  # type: ignore[index]

    @property
    def cldr(self) -> str:
        return languages.cldr_name(self.code)

    @property
    def direction(self) -> str:
        return languages.direction(self.code)

    def format_month(self, d: dt.date) -> str:
        """``Juli 2021`` / ``July 2021`` / ``2021年7月`` / ``juillet 2021``."""
        return format_skeleton("yMMMM", d, locale=self.cldr)

    def format_date(self, d: dt.date) -> str:
        """``Dienstag, 29. Juni 2021`` / ``Tuesday, 29 June 2021`` / ``2021年6月29日星期二``."""
        return _babel_date(d, "full", locale=self.cldr)

    def format_when(self, d: dt.date | None, start: str | None, end: str | None) -> str:
        parts = []
        if d:
            parts.append(self.format_date(d))
        if start:
            span = f"{start}–{end}" if end else start
            parts.append(self["time_span"].format(time=span))
        return self["when_separator"].join(parts)

    def format_list(self, items: list[str]) -> str:
        """``a, b und c`` / ``a、b和c``: CLDR's list punctuation."""
        return _babel_list(items, locale=self.cldr)

    def format_number(self, n: float) -> str:
        return format_decimal(n, locale=self.cldr)


_EN = Path("en") / "LC_MESSAGES" / f"{languages.DOMAIN}.po"


def _entries(path: Path) -> dict[str, tuple[str, str]]:
    """``{key: (english, translation)}`` of a catalog; fuzzy or empty translations are ''."""
    with path.open("rb") as f:
        catalog = read_po(f, domain=languages.DOMAIN)
    out: dict[str, tuple[str, str]] = {}
    for m in catalog:
        if not m.id or not m.context:
            continue
        out[m.context] = (str(m.id), "" if m.fuzzy else str(m.string or ""))
    return out


@cache
def catalog_entries(path: Path) -> dict[str, tuple[str, str]]:
    """A catalog's entries, read once per process."""
    return _entries(path)


def _layers(tag: str) -> list[Path]:
    """The catalogs whose entries make ``tag``'s strings, later ones winning."""
    paths = [folder / tag / "LC_MESSAGES" / f"{languages.DOMAIN}.po" for folder in
             reversed(languages.search_path())]  # fmt: skip
    return [p for p in paths if p.is_file()]


def _strings(tag: str) -> dict[str, object]:
    flat: dict[str, str] = {}
    for key, (english, _) in catalog_entries(languages.package_dir() / _EN).items():
        flat[key] = english
    for path in _layers(tag):
        for key, (english, translated) in catalog_entries(path).items():
            flat[key] = translated or flat.get(key) or english
    nested: dict[str, object] = {}
    for key, value in flat.items():
        section, _, name = key.rpartition(".")
        table = nested.setdefault(section, {}) if section else nested
        table[name] = value  # type: ignore[index]
    return nested


def get_locale(code: str) -> Locale:
    """The locale for ``code``, with fallback (``fr-CH`` → ``fr``, ``zh`` → ``zh-Hans``).

    A tag without any catalog on its path is refused (with the line saying
    how to add one); callers validate tags where they are read, so this is
    reached only by data written before a catalog was removed.
    """
    return _locale(code, tuple(languages.search_path()))


@cache
def _locale(code: str, search_path: tuple[Path, ...]) -> Locale:
    catalog = languages.resolve(code)
    if catalog is None:
        raise languages.BadInput(languages.unknown_message(code))
    return Locale(code, catalog, _strings(catalog))
