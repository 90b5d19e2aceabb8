"""What is particular to PostgreSQL: its error messages, and moving a list over from SQLite.

Everything else about PostgreSQL is every other test, run with
``--backend postgresql``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers.importing import import_file


def test_an_unreachable_server_is_one_line_and_hides_the_password(cli_run, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://newsletter:s3cret@/newsletter?host={tmp_path}/no-server"
    r = cli_run("--database", url, "lists", "list")
    assert r.exit_code == 1
    assert r.output.startswith(
        "Error: cannot open database postgresql+psycopg://newsletter:***@/newsletter?host="
    )
    assert f'socket "{tmp_path}/no-server/.s.PGSQL.5432" failed' in r.output
    assert "s3cret" not in r.output
    assert r.output.count("\n") == 1  # libpq's hint line is joined, not printed below


@pytest.mark.postgresql_only
def test_a_missing_database_is_named(cli_run, database_url: str) -> None:
    url = database_url.replace("/nltest_", "/missing_nltest_")
    r = cli_run("--database", url, "db", "status")
    assert r.exit_code == 1
    assert 'database "missing_nltest_' in r.output and "does not exist" in r.output


@pytest.mark.postgresql_only
def test_a_list_moves_from_sqlite_to_postgresql_by_export_and_import(
    cli_run, tmp_path: Path, database_url: str
) -> None:
    """The route docs/deployment.md gives: the export of the SQLite file imports losslessly."""
    old = f"sqlite:///{tmp_path / 'old.sqlite'}"  # the SQLite file itself is the point here
    for slug in ("news", "events"):
        cli_run("--database", old, "lists", "create", slug)
    sqlite_db = Database(old)
    with sqlite_db.session() as s:
        import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="restore")
        import_file(s, FIXTURES / "listmonk.csv", list_slug="events")
    sqlite_db.dispose()
    exported = cli_run("--database", old, "subscribers", "export").output
    (tmp_path / "move.csv").write_text(exported, encoding="utf-8")

    for slug in ("news", "events"):
        cli_run("lists", "create", slug)
    r = cli_run("subscribers", "import", "move.csv", "--consent-note", "moved from SQLite")
    assert r.exit_code == 0, r.output
    assert cli_run("subscribers", "export").output == exported
    assert cli_run("lists", "list", "--format", "csv").output == (
        cli_run("--database", old, "lists", "list", "--format", "csv").output
    )
