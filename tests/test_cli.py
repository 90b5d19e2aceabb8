"""The command line as a user meets it: help everywhere, version, scaffolding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from newsletter import __version__
from newsletter.cli import cli
from newsletter.issue.load import load_issue
from newsletter.languages import available

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # loads lazily registered commands
        cmd = group.get_command(ctx, name)
        assert cmd is not None, f"newsletter {' '.join((*prefix, name))} does not load"
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


ALL = list(_commands(cli))


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_has_help(path: tuple[str, ...], cmd: click.Command) -> None:
    assert cmd.help and cmd.help.strip(), f"newsletter {' '.join(path)} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage: newsletter " + " ".join(path) in result.output
    if not isinstance(cmd, click.Group):
        assert "Example" in cmd.help, f"newsletter {' '.join(path)} --help shows no example"


def test_start_up_loads_only_what_the_command_needs() -> None:
    """`newsletter render` must not pay for the database and SMTP stack (nor --version)."""
    heavy = ("sqlalchemy", "alembic", "dkim", "cryptography", "aiosmtpd")
    code = (
        "import sys\nfrom newsletter.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    for args in (["--version"], ["render", str(ROOT / "issues" / "2021-07.yaml"), "--help"]):
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().splitlines()[-1] == "[]", (args, out.stdout)


def test_version_and_module_entry_point() -> None:
    assert CliRunner().invoke(cli, ["--version"]).output == f"newsletter, version {__version__}\n"
    out = subprocess.run(
        [sys.executable, "-m", "newsletter", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"newsletter, version {__version__}"


def test_new_scaffolds_from_previous_issue(tmp_path: Path) -> None:
    issues = tmp_path / "issues"
    issues.mkdir()
    (issues / "2021-07.yaml").write_bytes((ROOT / "issues" / "2021-07.yaml").read_bytes())
    runner = CliRunner()
    result = runner.invoke(cli, ["new", "2021-08", "--issues-dir", str(issues)])
    assert result.exit_code == 0, result.output
    created = load_issue(issues / "2021-08.yaml")
    prev = load_issue(issues / "2021-07.yaml")
    assert created.subject == "ISA-Newsletter August 2021"
    assert created.language == "de"
    assert created.editorial and prev.editorial
    assert created.editorial.signatories == prev.editorial.signatories
    assert len(created.articles) == len(prev.articles)
    strict = runner.invoke(cli, ["check", "--strict", str(issues / "2021-08.yaml")])
    assert strict.exit_code == 2
    assert "warning: unfinished: replace the TODO left by `newsletter new`" in strict.output
    again = runner.invoke(cli, ["new", "2021-08", "--issues-dir", str(issues)])
    assert again.exit_code == 2 and "already exists" in again.output
    bad = runner.invoke(cli, ["new", "2021-8", "--issues-dir", str(issues)])
    assert bad.exit_code == 2 and "month must be YYYY-MM" in bad.output


def test_render_writes_html_and_text(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["render", str(ROOT / "issues" / "2021-07.yaml"), "-o", str(out), "--format", "both"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["2021-07.html", "2021-07.txt"]
    html = (out / "2021-07.html").read_text(encoding="utf-8")
    assert "%%" not in html and 'href="https://newsletter.example.org/unsubscribe"' in html
    raw = CliRunner().invoke(
        cli,
        ["render", str(ROOT / "issues" / "2021-07.yaml"), "-o", str(out), "--keep-placeholders"],
    )
    assert raw.exit_code == 0
    assert "%%UNSUBSCRIBE_URL%%" in (out / "2021-07.txt").read_text(encoding="utf-8")
    only_text = CliRunner().invoke(
        cli, ["render", str(ROOT / "issues" / "2021-06.yaml"), "-o", str(out), "--format", "text"]
    )
    assert only_text.exit_code == 0
    assert (out / "2021-06.txt").exists() and not (out / "2021-06.html").exists()


def test_bad_config_is_reported_with_field(tmp_path: Path) -> None:
    cfg = tmp_path / "newsletter.toml"
    cfg.write_text('[organisation]\nlanguage = "tlh"\nnmae = "x"\n')
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "render", str(ROOT / "issues" / "2021-07.yaml")]
    )
    assert result.exit_code == 2
    assert result.output == (
        f"{cfg}:2: organisation.language: unknown language 'tlh': no translation catalog for "
        "it; add a catalog at locales/tlh/LC_MESSAGES/newsletter.po in the templates folder "
        f"(see docs/languages.md); available: {', '.join(available())}\n"
        f"{cfg}:3: organisation.nmae: unknown key organisation.nmae; "
        "did you mean organisation.name?\n"
    )


def test_relative_sqlite_path_in_config_is_next_to_the_config(tmp_path: Path, monkeypatch) -> None:
    from newsletter.config import load_settings

    site = tmp_path / "site"
    site.mkdir()
    (site / "newsletter.toml").write_text('[database]\nurl = "sqlite:///data/nl.sqlite"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    assert load_settings(site / "newsletter.toml").database_url == (
        f"sqlite:///{site / 'data' / 'nl.sqlite'}"
    )
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "sqlite:///here.sqlite")
    assert load_settings(site / "newsletter.toml").database_url == "sqlite:///here.sqlite"


def test_help_lists_whole_first_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for group in ([], ["subscribers"], ["campaigns"], ["suppressions"], ["lists"], ["db"]):
        listing = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80).output
        commands = listing.split("Commands:\n", 1)[1]
        assert "..." not in commands, (group, commands)
    listing = CliRunner().invoke(cli, ["subscribers", "--help"], terminal_width=80).output
    assert "  data         Print everything stored about a person as JSON (GDPR Art. 15).\n" in (
        listing
    )


def test_tables_use_their_full_width_without_a_terminal(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    runner = CliRunner()
    slug = "a-list-with-a-rather-long-name"
    assert (
        runner.invoke(cli, ["lists", "create", slug, "--name", "A list, long name"]).exit_code == 0
    )
    address = "someone.with.a.long.address@subdomain.example.org"
    assert runner.invoke(cli, ["subscribers", "add", address, "--list", slug]).exit_code == 0
    out = runner.invoke(cli, ["subscribers", "list"], terminal_width=80).output
    row = next(line for line in out.splitlines() if address in line)
    assert f"{slug}:unconfirmed" in row and len(row) > 80
