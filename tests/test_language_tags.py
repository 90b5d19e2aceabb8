"""Language tags at every door (issue 18): a catalog dropped into the theme folder adds a
language; a tag without catalog is refused in one line (exit 2) that says how to add one;
subscribers and lists may name a regional variant that falls back, with a warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter import languages
from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import render_issue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _package_catalogs_only_afterwards():
    """Loading a config with a theme folder points the catalog search there, process-wide."""
    yield
    languages.use_theme_dir(None)


ESPERANTO = """\
msgid ""
msgstr ""
"Language: eo\\n"
"Language-Team: Esperanto-Ligo (example)\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgctxt "read_more"
msgid "Read more"
msgstr "Legu pli"

msgctxt "read_more_about"
msgid "Read more: {title}"
msgstr "Legu pli: {title}"

msgctxt "view_in_browser"
msgid "View in browser"
msgstr "Vidi en retumilo"

msgctxt "events"
msgid "Events"
msgstr "Eventoj"

msgctxt "language_name"
msgid "English"
msgstr "Esperanto"
"""

CORRECTION = """\
msgid ""
msgstr ""
"Language: de\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgctxt "read_more"
msgid "Read more"
msgstr "Weiterlesen"

msgctxt "read_more_about"
msgid "Read more: {title}"
msgstr "Weiterlesen: {title}"
"""

ISSUE = """\
issue:
  date: 2027-01
  language: {lang}
  subject: S
articles:
  - title: T
    paragraphs: ["Saluton!"]
    links: [{{url: "https://example.org/more"}}]
events:
  - title: E
    date: 2027-01-22
"""


def _organisation(tmp_path: Path, language: str) -> Path:
    theme = tmp_path / "theme"
    for tag, text in (("eo", ESPERANTO), ("de", CORRECTION)):
        folder = theme / "locales" / tag / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "newsletter.po").write_text(text, "utf-8")
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[organisation]\nname = "Verda Stelo"\nlanguage = "{language}"\ntemplates_dir = "theme"\n',
        "utf-8",
    )
    return config


def test_a_catalog_dropped_into_the_theme_folder_adds_a_language(tmp_path: Path) -> None:
    config = _organisation(tmp_path, "eo")
    settings = load_settings(config)
    assert "eo" in languages.available() and not (languages.package_dir() / "eo").exists()
    issue_file = tmp_path / "2027-01.yaml"
    issue_file.write_text(ISSUE.format(lang="eo"), "utf-8")
    r = render_issue(load_issue(issue_file), settings)
    assert '<html lang="eo" dir="ltr"' in r.html
    for s in ("Legu pli", "Vidi en retumilo", "Eventoj", "Januaro 2027"):
        assert s in r.html and s in r.text, s
    assert "Unsubscribe" in r.html  # an entry the catalog lacks falls back to English
    # an edition file in the new language is found by its name alone
    (tmp_path / "2027-01.eo.yaml").write_text(ISSUE.format(lang="eo"), "utf-8")
    from newsletter.issue.files import split_edition

    assert split_edition(tmp_path / "2027-01.eo.yaml") == ("2027-01", "eo")


def test_a_theme_catalog_corrects_one_string_of_a_shipped_language(tmp_path: Path) -> None:
    settings = load_settings(_organisation(tmp_path, "de"))
    issue_file = tmp_path / "2027-01.yaml"
    issue_file.write_text(ISSUE.format(lang="de"), "utf-8")
    r = render_issue(load_issue(issue_file), settings)
    assert "Weiterlesen" in r.html and "Lesen Sie mehr" not in r.html
    assert "Im Browser ansehen" in r.html  # the rest is the package's German


def test_the_cli_uses_the_theme_catalog_without_touching_the_package(tmp_path: Path) -> None:
    config = _organisation(tmp_path, "eo")
    issue_file = tmp_path / "2027-01.yaml"
    issue_file.write_text(ISSUE.format(lang="eo"), "utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(config), "render", str(issue_file),
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Legu pli" in (tmp_path / "out" / "2027-01.txt").read_text("utf-8")


HOW = (
    "no translation catalog for it; add a catalog at locales/tlh/LC_MESSAGES/newsletter.po "
    "in the templates folder (see docs/languages.md); available: "
)


def test_an_issue_in_an_unknown_language_is_one_line_and_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "2027-01.yaml"
    f.write_text(ISSUE.format(lang="tlh"), "utf-8")
    r = CliRunner().invoke(cli, ["--config", str(ROOT / "newsletter.toml"), "check", str(f)])
    assert r.exit_code == 2
    (line,) = [x for x in r.output.splitlines() if "tlh" in x]
    assert line.startswith(f"{f}:3:13: issue.language: unknown language 'tlh': " + HOW)
    assert "fr, it, ja, ko" in line


def test_a_profile_in_an_unknown_language_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text('[organisation]\nname = "X"\nlanguage = "tlh"\n', "utf-8")
    r = CliRunner().invoke(cli, ["--config", str(config), "lists", "list"])
    assert r.exit_code == 2
    assert f"{config}:3: organisation.language: unknown language 'tlh': " + HOW in r.output
    assert len([x for x in r.output.splitlines() if "tlh" in x]) == 1


@pytest.mark.parametrize(
    ("tag", "code", "says"),
    [
        ("fr", 0, ""),
        ("fr-CH", 0, "warning: language 'fr-CH' has no catalog of its own; served in 'fr'"),
        ("tlh", 2, "unknown language 'tlh': " + HOW),
    ],
)
def test_a_list_in_a_regional_variant_is_accepted_with_a_warning(
    tmp_path: Path, tag: str, code: int, says: str
) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[organisation]\nname = "X"\n[database]\nurl = "sqlite:///{tmp_path}/n.sqlite"\n', "utf-8"
    )
    r = CliRunner().invoke(
        cli, ["--config", str(config), "lists", "create", "news", "--language", tag]
    )
    assert r.exit_code == code, r.output
    assert says in r.output


def test_a_campaign_edition_is_chosen_through_the_catalogs_fallback() -> None:
    """``zh-TW`` readers get the Traditional edition; cutting tags at '-' sent them Simplified."""
    from newsletter.campaigns.editions import edition_matcher

    match = edition_matcher({"zh", "zh-Hant", "fr", "de"})
    assert [match(t) for t in ("zh-CN", "zh-Hans", "zh", "zh-TW", "zh-Hant", "fr-CH", "en")] == [
        "zh", "zh", "zh", "zh-Hant", "zh-Hant", "fr", None,
    ]  # fmt: skip


@pytest.mark.parametrize("parallel", [False, True])
def test_an_import_checks_tags_against_the_theme_catalogs_in_the_reader_process_too(
    news, tmp_path: Path, parallel: bool
) -> None:
    from newsletter.subscribers.importing import import_file

    load_settings(_organisation(tmp_path, "eo"))  # the theme folder has an Esperanto catalog
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,name,language\nzamenhof@example.org,L. Zamenhof,eo\nkirk@example.org,Kirk,tlh\n",
        "utf-8",
    )
    with news.session() as s:
        r = import_file(s, csv, list_slug="news", dry_run=True, parallel=parallel)
    assert [(p.line, p.message) for p in r.rejected] == [
        (3, "language: unknown language 'tlh': " + HOW + ", ".join(languages.available()))
    ]


def test_an_import_warns_once_per_regional_variant_served_from_another_catalog(
    cli_run, tmp_path: Path
) -> None:
    cli_run("lists", "create", "news")
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,language\na@example.org,fr-CH\nb@example.org,fr-CH\nc@example.org,de\n", "utf-8"
    )
    r = cli_run("subscribers", "import", str(csv), "--list", "news")
    assert r.exit_code == 0, r.output
    assert (
        "Warning: 2 rows: language 'fr-CH' has no catalog of its own; served in 'fr'." in r.output
    )
    assert "'de'" not in r.output
