"""Alembic migrations: an empty database is set up, upgrades are idempotent,
and the models never drift from what the migrations create."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import newsletter.subscribers.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from newsletter.db import Database, DatabaseError, head_revision
from newsletter.errors import ConfigError

TABLES = {
    "subscriber",
    "mailing_list",
    "subscription",
    "suppression",
    "consent_event",
    "newsletter_meta",
    "alembic_version",
}


def tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_creates_the_schema_in_an_empty_file(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert db.revision() is None
    assert db.upgrade() == (None, head_revision())
    assert tables(db) >= TABLES
    db.dispose()


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'again.sqlite'}")
    db.upgrade()
    before = tables(db)
    assert db.upgrade() == (head_revision(), head_revision())
    assert tables(db) == before
    db.dispose()


def test_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'roundtrip.sqlite'}")
    db.upgrade()
    db.downgrade("base")
    assert tables(db) == {"alembic_version"}
    assert db.upgrade()[1] == head_revision()
    db.dispose()


def test_models_match_the_migrations(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    mine = [d for d in diff if "subscri" in repr(d) or "consent" in repr(d) or "list" in repr(d)]
    assert mine == []


def test_0001_is_the_subscriber_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r1.sqlite'}")
    db.upgrade("0001")
    assert db.revision() == "0001"
    assert tables(db) >= TABLES
    db.dispose()


def test_first_use_of_a_fresh_database_migrates_it(cli_run, tmp_path: Path) -> None:
    r = cli_run("lists", "list")
    assert r.exit_code == 0
    assert r.output == "No lists yet. Create one with: newsletter lists create SLUG\n"
    db = Database(f"sqlite:///{tmp_path / 'newsletter.sqlite'}")
    assert db.revision() == head_revision()
    db.dispose()


def test_db_upgrade_command(cli_run) -> None:
    r = cli_run("db", "upgrade")
    assert r.exit_code == 0
    assert r.output == f"sqlite:///newsletter.sqlite: upgraded from empty to {head_revision()}.\n"
    r = cli_run("db", "upgrade")
    assert (
        r.output
        == f"sqlite:///newsletter.sqlite: already at revision {head_revision()} (latest).\n"
    )
    r = cli_run("db", "status")
    assert r.output == f"sqlite:///newsletter.sqlite: revision {head_revision()}, up to date.\n"


def test_an_older_database_is_not_migrated_behind_your_back(tmp_path: Path) -> None:
    if head_revision() == "0001":
        pytest.skip("needs a revision after 0001")
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite'}")
    db.upgrade("0001")
    with pytest.raises(DatabaseError, match=r"is at schema revision 0001.*newsletter db upgrade"):
        db.ensure_schema()
    db.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_secure_delete(db: Database) -> None:
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_secret_key_file_is_created_0600_next_to_the_database(db: Database) -> None:
    assert db.secret
    key_file = db.sqlite_path.with_name("test.sqlite.key")  # type: ignore[union-attr]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_a_different_secret_key_is_refused(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    assert db.secret  # records the fingerprint of the generated key
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "another key")
    other = Database(str(db.url))
    with pytest.raises(ConfigError, match="secret key differs"):
        other.secret  # noqa: B018
    other.dispose()


def test_a_sqlite_path_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    db = Database("sqlite:///~/data/newsletter.sqlite")
    db.ensure_schema()
    assert db.secret
    db.dispose()
    assert (tmp_path / "data" / "newsletter.sqlite").exists()
    assert (tmp_path / "data" / "newsletter.sqlite.key").exists()


def test_a_missing_key_file_is_not_replaced_by_a_new_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "kept in a password manager")
    assert db.secret  # the database now records this key's fingerprint
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    other = Database(str(db.url))
    with pytest.raises(ConfigError, match="secret key file is missing") as exc:
        other.secret  # noqa: B018
    other.dispose()
    assert str(exc.value).startswith(f"{other.key_file}: ")
    assert not other.key_file.exists()


def test_a_database_from_a_newer_version_is_named_as_such(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    db = Database(f"sqlite:///{tmp_path / 'newsletter.sqlite'}")
    with db.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    db.dispose()
    newer = (
        "Error: database sqlite:///newsletter.sqlite is at schema revision 9999, which this "
        f"version of newsletter does not know (it knows up to {head_revision()}): the database "
        "was upgraded by a newer version. Use that version, or restore a backup made before.\n"
    )
    for command in (["lists", "list"], ["db", "upgrade"]):
        r = cli_run(*command)
        assert (r.exit_code, r.output) == (1, newer)
    r = cli_run("db", "status")
    assert r.output == (
        "sqlite:///newsletter.sqlite: revision 9999, newer than this version of newsletter "
        f"(which knows up to {head_revision()}).\n"
    )
