"""Fixtures for the subscriber tests: a real database and the real CLI.

Imported by conftest.py, so every test module can ask for ``db``, ``news``
or ``cli_run``; nothing is mocked. All three use the test's ``database_url``
(database_helpers.py), so they share one database on either backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import cli
from newsletter.db import Database
from newsletter.subscribers.lists import create_list

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "subscribers"


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test's migrated database; its key file is in tmp_path (next to the SQLite file)."""
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FILE", raising=False)
    database = Database(database_url, base_dir=tmp_path)
    database.ensure_schema()
    yield database
    database.dispose()


@pytest.fixture
def news(db: Database) -> Database:
    """``db`` with a list ``news``."""
    with db.session() as s:
        create_list(s, "news", "News", language="de")
    return db


@pytest.fixture
def cli_run(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``newsletter ARGS`` in tmp_path against the test's ``database_url``.

    On SQLite that is the default ``newsletter.sqlite`` in the working
    directory, so messages show the URL a user would see; on PostgreSQL it is
    passed in ``$NEWSLETTER_DATABASE_URL``.
    """
    monkeypatch.chdir(tmp_path)
    for var in (
        "NEWSLETTER_CONFIG",
        "NEWSLETTER_DATABASE_URL",
        "NEWSLETTER_SECRET_KEY",
        "NEWSLETTER_SECRET_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    if not database_url.startswith("sqlite:"):
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", database_url)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return run
