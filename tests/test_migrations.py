"""Alembic migrations: an empty database is set up, upgrades are idempotent,
and the models never drift from what the migrations create."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from database_helpers import shown
from sqlmodel import SQLModel

import newsletter.campaigns.tables
import newsletter.inbound.tables
import newsletter.subscribers.tables
import newsletter.workers.tables  # noqa: F401  (each registers its tables on SQLModel.metadata)
from newsletter.campaigns import store
from newsletter.db import Database, DatabaseError, head_revision
from newsletter.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parents[1] / "newsletter" / "db" / "migrations"

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


def test_upgrade_creates_the_schema_in_an_empty_database(new_database_url) -> None:
    db = Database(new_database_url("new", migrated=False))
    assert db.revision() is None
    assert db.upgrade() == (None, head_revision())
    assert tables(db) >= TABLES
    db.dispose()


def test_upgrade_is_idempotent(new_database_url) -> None:
    db = Database(new_database_url("again", migrated=False))
    db.upgrade()
    before = tables(db)
    assert db.upgrade() == (head_revision(), head_revision())
    assert tables(db) == before
    db.dispose()


def test_downgrade_to_nothing_and_back(new_database_url) -> None:
    db = Database(new_database_url("roundtrip", migrated=False))
    db.upgrade()
    db.downgrade("base")
    assert tables(db) == {"alembic_version"}
    assert db.upgrade()[1] == head_revision()
    db.dispose()


def _ours(name: str | None, kind: str, parent: object) -> bool:
    """procrastinate's tables (on PostgreSQL) come from its schema, not from our models."""
    return not (name or "").startswith("procrastinate")


def test_models_match_the_migrations(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _ours}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_0001_is_the_subscriber_revision(new_database_url) -> None:
    db = Database(new_database_url("r1", migrated=False))
    db.upgrade("0001")
    assert db.revision() == "0001"
    assert tables(db) >= TABLES
    db.dispose()


@pytest.mark.empty_database
def test_first_use_of_a_fresh_database_migrates_it(cli_run, database_url: str) -> None:
    r = cli_run("lists", "create", "news")
    assert r.exit_code == 0, r.output
    db = Database(database_url)
    assert db.revision() == head_revision()
    db.dispose()


@pytest.mark.empty_database
def test_db_upgrade_command(cli_run, database_url: str) -> None:
    url = shown(database_url)
    r = cli_run("db", "upgrade")
    assert r.exit_code == 0
    assert r.output == f"{url}: upgraded from empty to {head_revision()}.\n"
    r = cli_run("db", "upgrade")
    assert r.output == f"{url}: already at revision {head_revision()} (latest).\n"
    r = cli_run("db", "status")
    assert r.output == f"{url}: revision {head_revision()}, up to date.\n"


def test_an_older_database_is_not_migrated_behind_your_back(new_database_url) -> None:
    if head_revision() == "0001":
        pytest.skip("needs a revision after 0001")
    db = Database(new_database_url("old", migrated=False))
    db.upgrade("0001")
    with pytest.raises(DatabaseError, match=r"is at schema revision 0001.*newsletter db upgrade"):
        db.ensure_schema()
    db.dispose()


@pytest.mark.sqlite_only("SQLite's pragmas")
def test_sqlite_connections_use_wal_foreign_keys_and_secure_delete(db: Database) -> None:
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_secret_key_file_is_created_0600_next_to_the_database(db: Database, tmp_path) -> None:
    assert db.secret
    # Next to a SQLite file; beside the config file (here tmp_path) for a server database.
    name = "newsletter.sqlite.key" if db.is_sqlite else "newsletter.key"
    assert db.key_file == tmp_path / name
    assert stat.S_IMODE(os.stat(db.key_file).st_mode) == 0o600


def test_a_different_secret_key_is_refused(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    assert db.secret  # records the fingerprint of the generated key
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "another key")
    other = Database(db.url.render_as_string(hide_password=False), base_dir=db.base_dir)
    with pytest.raises(ConfigError, match=r"secret key in \$NEWSLETTER_SECRET_KEY differs") as exc:
        other.secret  # noqa: B018
    assert (
        exc.value.problems[0].file is None
    )  # the key came from the environment, not the .key file
    other.dispose()
    # A key file that is not the one the database was made with: that file is named.
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    db.key_file.write_text("a third key\n")
    third = Database(db.url.render_as_string(hide_password=False), base_dir=db.base_dir)
    with pytest.raises(ConfigError, match=r"secret key in .*newsletter.*key differs") as exc:
        third.secret  # noqa: B018
    assert exc.value.problems[0].file == str(db.key_file)
    third.dispose()


@pytest.mark.sqlite_only("a SQLite file path")
def test_a_sqlite_path_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    (tmp_path / "data").mkdir()
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
    other = Database(db.url.render_as_string(hide_password=False), base_dir=db.base_dir)
    with pytest.raises(ConfigError, match="secret key file is missing") as exc:
        other.secret  # noqa: B018
    other.dispose()
    assert str(exc.value).startswith(f"{other.key_file}: ")
    assert not other.key_file.exists()


def test_a_database_from_a_newer_version_is_named_as_such(cli_run, database_url: str) -> None:
    cli_run("lists", "create", "news")
    db = Database(database_url)
    with db.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    db.dispose()
    url = shown(database_url)
    newer = (
        f"Error: database {url} is at schema revision 9999, which this "
        f"version of newsletter does not know (it knows up to {head_revision()}): the database "
        "was upgraded by a newer version. Use that version, or restore a backup made before.\n"
    )
    for command in (["lists", "list"], ["db", "upgrade"]):
        r = cli_run(*command)
        assert (r.exit_code, r.output) == (1, newer)
    r = cli_run("db", "status")
    assert r.output == (
        f"{url}: revision 9999, newer than this version of newsletter "
        f"(which knows up to {head_revision()}).\n"
    )


_OLD_CAMPAIGN = (
    "id", "uid", "kind", "issue_slug", "list_slug", "list_name", "subject", "html", "text",
    "status", "recipients", "runner_pid", "runner_host", "created_at",
)  # fmt: skip
_OLD_ROW = (
    1, "u", "campaign", "2021-07", "news", "News", "S", "<p>", "t", "sending", 1, 4242,
    "old-host", datetime(2026, 11, 28, 10, tzinfo=UTC),
)  # fmt: skip


def test_0004_turns_a_campaign_held_by_a_process_id_into_an_interrupted_one(
    new_database_url,
) -> None:
    db = Database(new_database_url("r2", migrated=False))
    db.upgrade("0002")
    campaign = sa.table("campaign", *(sa.column(c) for c in _OLD_CAMPAIGN))
    with db.engine.begin() as c:
        c.execute(sa.insert(campaign).values(dict(zip(_OLD_CAMPAIGN, _OLD_ROW, strict=True))))
    db.upgrade()
    with db.session() as s:
        state = store.summarize(s, store.get_campaign(s, 1)).state
    assert state == "interrupted (resume with: newsletter campaigns resume 1)"
    db.downgrade("0002")
    assert "runner_pid" in {c["name"] for c in sa.inspect(db.engine).get_columns("campaign")}
    db.dispose()


def test_upgrades_keep_the_delivery_log_and_what_refers_to_it(new_database_url) -> None:
    """0004 and 0005 rebuild tables on SQLite; the rows pointing at them must survive."""
    db = Database(new_database_url("r5", migrated=False))
    db.upgrade("0003")
    with db.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO campaign (uid, kind, issue_slug, list_slug, list_name, subject, html, "
            "text, status, recipients, created_at) VALUES ('u', 'campaign', '2021-07', 'news', "
            "'News', 's', 'h', 't', 'finished', 1, '2024-06-02 00:00:00+00')"
        )
        c.exec_driver_sql(
            "INSERT INTO delivery (campaign_id, address, status, attempts, queued_at) "
            "VALUES (1, 'anna@example.org', 'sent', 1, '2024-06-02 00:00:00+00')"
        )
        c.exec_driver_sql(
            "INSERT INTO bounce (received_at, source, kind, delivery_id, campaign_id, scored, "
            "decision, content_hash) VALUES ('2024-06-03 00:00:00+00', 'test', 'hard', 1, 1, "
            "false, 'suppressed', 'h1')"
        )
    assert db.upgrade() == ("0003", head_revision())
    with db.engine.connect() as c:
        rows = c.exec_driver_sql("SELECT kind, campaign_id, address FROM delivery").all()
        bounce = c.exec_driver_sql("SELECT delivery_id, campaign_id FROM bounce").one()
    assert [tuple(r) for r in rows] == [("campaign", 1, "anna@example.org")]
    assert tuple(bounce) == (1, 1)
    assert "signup" in tables(db)
    db.downgrade("0003")
    assert "signup" not in tables(db)
    with db.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM delivery").scalar() == 1
    db.dispose()


def test_migration_file_names_are_the_revision_chain_alembic_sees() -> None:
    """Every command checks the schema against the file names, not Alembic's scripts.

    So each ``versions/NNNN_purpose.py`` must declare ``revision = "NNNN"`` and
    ``down_revision`` = the file before it; renumber all three together.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from newsletter.db import revisions

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    heads = script.get_heads()
    assert len(heads) == 1, f"the migrations must form one chain, not end in {heads}"
    chain = [r.revision for r in reversed(list(script.walk_revisions()))]
    files = {r.revision: Path(r.path).name for r in script.walk_revisions()}
    for revision, name in files.items():
        assert name.startswith(f"{revision}_"), (
            f"{name} declares revision {revision!r}: name it {revision}_<purpose>.py, "
            f"or set revision = {name[:4]!r} (and the next file's down_revision)"
        )
    assert list(revisions()) == chain, (
        f"the migration files say {list(revisions())}, Alembic's chain is {chain}"
    )
    assert head_revision() == script.get_current_head()
