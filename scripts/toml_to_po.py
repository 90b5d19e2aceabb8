"""Merge chrome strings written as TOML into a language's gettext catalog.

    python scripts/toml_to_po.py fr.toml --tag fr [--english en.toml] [--into DIR]

The TOML has the keys the code asks ``get_locale(code)[key]`` for, a
``[web]`` table for the ``web.*`` keys (the layout of the catalogs before
issue 18). Each string becomes the entry ``msgctxt KEY / msgid ENGLISH /
msgstr TEXT`` of ``DIR/<tag>/LC_MESSAGES/newsletter.po`` (DIR defaults to
``newsletter/locales``); entries already there are updated, others kept.
The English text comes from ``--english`` or, when absent, from the English
catalog, so adding a key is: write it in ``en.toml`` and convert that with
``--tag en`` first, then each translation.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "newsletter" / "locales"
REVIEWED = {"de": "ISA editors", "en": "ISA editors", "zh-Hans": "ISA editors"}


def flatten(data: dict[str, object], prefix: str = "") -> dict[str, str]:
    """``{"web": {"x": "…"}}`` → ``{"web.x": "…"}``; lists and numbers are not strings."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, str):
            out[f"{prefix}{key}"] = value
    return out


def catalog_path(folder: Path, tag: str) -> Path:
    return folder / tag / "LC_MESSAGES" / "newsletter.po"


def load(path: Path, tag: str) -> Catalog:
    if path.exists():
        with path.open("rb") as f:
            return read_po(f, locale=tag.replace("-", "_"), domain="newsletter")
    return Catalog(locale=tag.replace("-", "_"), domain="newsletter", project="newsletter")


def english_of(folder: Path) -> dict[str, str]:
    path = catalog_path(folder, "en")
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return {m.context: str(m.id) for m in read_po(f) if m.id and m.context}


def merge(strings: dict[str, str], english: dict[str, str], tag: str, folder: Path) -> Path:
    path = catalog_path(folder, tag)
    catalog = load(path, tag)
    catalog.project = "newsletter"
    catalog.language_team = REVIEWED.get(tag, "needs review by a native speaker")
    catalog.msgid_bugs_address = "https://github.com/isa-newsletter/newsletter/issues"
    catalog.fuzzy = False
    catalog.copyright_holder = "the newsletter authors"
    catalog.last_translator = "the newsletter authors"
    for key, text in strings.items():
        source = english.get(key) or (text if tag == "en" else None)
        if source is None:
            sys.exit(f"{key}: no English text; convert en.toml with --tag en first")
        old = catalog.get(source, context=key)
        if old is None:
            for m in list(catalog):
                if m.context == key:
                    catalog.delete(m.id, context=key)
        catalog.add(source, text, context=key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".po.tmp")
    with tmp.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, sort_output=False)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("toml", type=Path)
    ap.add_argument("--tag", required=True, help="BCP 47 tag of the catalog, e.g. fr or zh-Hant")
    ap.add_argument("--english", type=Path, help="en.toml with the same keys")
    ap.add_argument("--into", type=Path, default=DEFAULT_DIR, help="the locales folder")
    args = ap.parse_args(argv)
    strings = flatten(tomllib.loads(args.toml.read_text("utf-8")))
    if args.english:
        english = flatten(tomllib.loads(args.english.read_text("utf-8")))
    elif args.tag == "en":
        english = strings
    else:
        english = english_of(args.into)
    print(merge(strings, english, args.tag, args.into))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
