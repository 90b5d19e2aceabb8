"""The shipped translation catalogs: complete, consistent, and found by their tag alone."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from newsletter import languages
from newsletter.i18n import get_locale

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [
    "de", "en", "fr", "es", "it", "nl", "pt", "pl", "sv", "cs", "ja", "ko", "zh-Hans", "zh-Hant",
    "ar", "tr",
]  # fmt: skip


def _catalog(tag: str):
    with (languages.package_dir() / tag / "LC_MESSAGES" / "newsletter.po").open("rb") as f:
        return read_po(f)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_package_ships_the_sixteen_languages() -> None:
    languages.use_theme_dir(None)
    assert sorted(languages.available()) == sorted(SHIPPED)


@pytest.mark.parametrize("tag", SHIPPED)
def test_every_catalog_has_every_english_key_and_no_placeholder_english_lacks(tag: str) -> None:
    english = {m.context: str(m.id) for m in _catalog("en") if m.context}
    catalog = {m.context: m for m in _catalog(tag) if m.context}
    missing = sorted(set(english) - set(catalog))
    assert missing == [], f"{tag}: missing {missing}"
    assert sorted(set(catalog) - set(english)) == [], f"{tag}: keys English does not have"
    for key, m in catalog.items():
        assert m.string and not m.fuzzy, f"{tag} {key}: not translated"
        assert str(m.id) == english[key], f"{tag} {key}: msgid is not the English text"
        extra = _fields(str(m.string)) - _fields(english[key])
        assert not extra, f"{tag} {key}: placeholders {extra} that English lacks"
        str(m.string).format(**dict.fromkeys(_fields(english[key]), "x"))  # well-formed braces


@pytest.mark.parametrize("tag", SHIPPED)
def test_every_catalog_header_says_who_should_review_it(tag: str) -> None:
    catalog = _catalog(tag)
    assert catalog.language_team, tag
    assert str(catalog.locale).replace("_", "-") == tag
    if tag not in ("de", "en", "zh-Hans"):
        assert catalog.language_team == "needs review by a native speaker"


def test_tags_fall_back_to_the_nearest_catalog() -> None:
    languages.use_theme_dir(None)
    assert languages.resolve("fr-CH") == "fr"
    assert languages.resolve("zh") == "zh-Hans"
    assert languages.resolve("zh-TW") == "zh-Hant"
    assert languages.resolve("ZH-hant") == "zh-Hant"
    assert languages.resolve("pt-BR") == "pt"
    assert languages.resolve("tlh") is None
    assert languages.is_available("zh") and not languages.is_available("fr-CH")
    assert languages.negotiate("fr-CH, fr;q=0.9, en;q=0.8") == "fr"
    assert languages.negotiate("tlh, en;q=0.1") == "en"
    assert languages.negotiate("de;q=0.5, ja", ["de", "en"]) == "de"


def test_dates_and_zone_names_come_from_cldr() -> None:
    import datetime as dt

    day = dt.date(2027, 1, 12)
    assert get_locale("fr").format_date(day) == "mardi 12 janvier 2027"
    assert get_locale("fr").format_month(day) == "janvier 2027"
    assert get_locale("de").format_date(day) == "Dienstag, 12. Januar 2027"
    assert get_locale("en").format_date(day) == "Tuesday, 12 January 2027"
    assert get_locale("zh").format_date(day) == "2027年1月12日星期二"
    assert get_locale("ja").format_month(day) == "2027年1月"
    assert get_locale("ar").format_month(day) == "يناير 2027"
    assert get_locale("de").format_list(["A", "B", "C"]) == "A, B und C"
    assert get_locale("zh").format_list(["A", "B", "C"]) == "A、B和C"
    assert get_locale("fr").format_number(1234.5) == "1\u202f234,5"


def test_the_direction_and_script_of_a_tag_come_from_cldr() -> None:
    assert [languages.direction(t) for t in ("ar", "fr", "he")] == ["rtl", "ltr", "rtl"]
    assert [languages.script(t) for t in ("de", "zh", "zh-Hant", "ja", "ko", "ar", "ru")] == [
        "Latn", "Hans", "Hant", "Jpan", "Kore", "Arab", "Cyrl",
    ]  # fmt: skip


def test_a_toml_key_converts_mechanically_into_every_catalog(tmp_path: Path) -> None:
    """The path for a key someone added in the old TOML layout (scripts/toml_to_po.py)."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "locales"
    shutil.copytree(languages.package_dir(), folder)
    (tmp_path / "en.toml").write_text('[web]\nwelcome_title = "Welcome to {list}"\n', "utf-8")
    (tmp_path / "fr.toml").write_text('[web]\nwelcome_title = "Bienvenue dans {list}"\n', "utf-8")
    script = str(ROOT / "scripts" / "toml_to_po.py")
    for tag in ("en", "fr"):
        subprocess.run(
            [sys.executable, script, str(tmp_path / f"{tag}.toml"), "--tag", tag,
             "--into", str(folder)],
            check=True, capture_output=True,
        )  # fmt: skip
    text = (folder / "fr" / "LC_MESSAGES" / "newsletter.po").read_text("utf-8")
    entry = 'msgctxt "web.welcome_title"\nmsgid "Welcome to {list}"\nmsgstr "Bienvenue dans {list}"'
    assert entry in text
    assert 'msgctxt "read_more"' in text  # the other entries are kept
