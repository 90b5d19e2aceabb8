"""Fixtures for the subscriber tests: real SQLite files and the real CLI.

Imported by conftest.py, so every test module can ask for ``db``, ``news``
or ``cli_run``; nothing is mocked.
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
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated SQLite file with its own key file, both in tmp_path."""
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FILE", raising=False)
    database = Database(f"sqlite:///{tmp_path / 'test.sqlite'}")
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
def cli_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``newsletter ARGS`` in tmp_path against tmp_path/newsletter.sqlite."""
    monkeypatch.chdir(tmp_path)
    for var in (
        "NEWSLETTER_CONFIG",
        "NEWSLETTER_DATABASE_URL",
        "NEWSLETTER_SECRET_KEY",
        "NEWSLETTER_SECRET_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return run
