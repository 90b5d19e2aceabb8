"""What a user sees when something goes wrong: one line and an exit code, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import cli
from newsletter.db import Database

ROOT = Path(__file__).resolve().parents[1]
ISSUE = ROOT / "issues" / "2021-07.yaml"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for var in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL", "NEWSLETTER_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)

    def invoke(*args: str) -> Result:
        # catch_exceptions=False: a traceback would fail the test instead of hiding in Result
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_a_malformed_database_url_is_one_line(run) -> None:  # type: ignore[no-untyped-def]
    r = run("--database", "::::", "lists", "list")
    assert (r.exit_code, r.output) == (
        2,
        "Error: not a database URL: '::::' (expected e.g. sqlite:///newsletter.sqlite or "
        "postgresql://user@host/db)\n",
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://news:s3cret-pw@db.example.org:notaport/news",
        "mysql://news:s3cret-pw@127.0.0.1:1/news",
        "nosuchdialect://news:s3cret-pw@127.0.0.1/news",
    ],
)
def test_a_database_password_is_never_shown(run, url: str) -> None:  # type: ignore[no-untyped-def]
    r = run("--database", url, "lists", "list")
    assert r.exit_code == 2
    assert "s3cret-pw" not in r.output and "news:***@" in r.output
    assert r.output.startswith("Error: ") and r.output.count("\n") == 1


def test_a_refused_connection_shows_no_password(run) -> None:  # type: ignore[no-untyped-def]
    r = run("--database", "postgresql+psycopg://news:s3cret-pw@127.0.0.1:1/news", "lists", "list")
    assert r.exit_code == 1
    assert r.output.startswith(
        "Error: cannot open database postgresql+psycopg://news:***@127.0.0.1:1/news: "
    )
    assert "s3cret-pw" not in r.output


def test_redact_hides_every_password_in_a_text() -> None:
    from newsletter.errors import redact

    assert redact("to postgresql://u:p@ss@h/db and mysql+pymysql://r:x@h2 ok") == (
        "to postgresql://u:***@h/db and mysql+pymysql://r:***@h2 ok"
    )
    assert redact("mailto:a@example.org https://example.org/a:b@c") == (
        "mailto:a@example.org https://example.org/a:b@c"
    )


def test_a_missing_folder_is_reported_and_nothing_is_created(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    r = run("--database", f"sqlite:///{target}", "lists", "create", "news")
    assert (r.exit_code, r.output) == (
        2,
        f"Error: database {target} cannot be created: folder {target.parent} does not exist\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_reading_command_does_not_create_a_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reading = (["lists", "list"], ["db", "status"], ["campaigns", "list"], ["log", "1"], ["serve"])
    for args in (*reading, ["archive", "build", "out"]):
        r = run(*args)
        assert (r.exit_code, r.output) == (
            2,
            "Error: database newsletter.sqlite does not exist; create it with: newsletter db "
            "upgrade (or by creating a list or importing subscribers)\n",
        ), args
    assert list(tmp_path.iterdir()) == []
    assert run("db", "upgrade").exit_code == 0
    assert run("lists", "list").exit_code == 0


def test_a_file_that_is_not_a_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.sqlite").write_text("shopping list\n")
    for args in (["lists", "list"], ["db", "upgrade"]):
        r = run("--database", "sqlite:///notes.sqlite", *args)
        assert (r.exit_code, r.output) == (2, "Error: notes.sqlite is not a SQLite database\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]


def test_a_file_system_error_is_one_line_and_the_traceback_needs_debug(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "plain-file").write_text("")
    out = tmp_path / "plain-file" / "out"
    r = run("render", str(ISSUE), "-o", str(out))
    assert (r.exit_code, r.output) == (1, f"Error: {out}: Not a directory\n")
    r = run("--debug", "render", str(ISSUE), "-o", str(out))
    assert r.exit_code == 1
    assert r.output.startswith("Traceback (most recent call last):\n")
    assert r.output.endswith(f"Error: {out}: Not a directory\n")


def test_a_database_error_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'newsletter.sqlite'}")
    db.ensure_schema()
    db.dispose()
    with sqlite3.connect(tmp_path / "newsletter.sqlite") as con:
        con.execute("DROP TABLE campaign")
    r = run("campaigns", "list")
    assert (r.exit_code, r.output) == (1, "Error: database error: no such table: campaign\n")
