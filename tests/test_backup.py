"""`db backup` while a 20,000-recipient send and one-click unsubscribes write, then `db
restore` into a new file: everything committed before the backup is there, row for row."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pg_cluster import find_bindir
from sqlalchemy.engine import make_url
from web_helpers import WebWorld

from newsletter.cli import cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SENT = "SELECT id, status, address, message_id, smtp_reply FROM delivery WHERE status = 'sent'"
EVENTS = "SELECT id, at, action, subscriber_id, list_slug, subject, source FROM consent_event"
ONE_CLICK, FORM = b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"
UNSUBSCRIBED = (
    "SELECT subscriber_id, list_id, status, unsubscribed_at FROM subscription "
    "WHERE status = 'unsubscribed'"
)


def rows(path: Path, query: str) -> set[tuple]:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as con:
        return set(con.execute(query).fetchall())


def checksum(found: set[tuple]) -> str:
    return hashlib.sha256(repr(sorted(found, key=repr)).encode()).hexdigest()


def newsletter(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "newsletter", "--config", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, **env}, timeout=300)


def write_config(path: Path, database: Path | str, outbox: Path) -> Path:
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    path.write_text(
        f'[organisation]\nsender_email = "newsletter@isa.example.org"\n'
        f'[database]\nurl = "{url}"\n'
        f'[delivery]\ntransport = "maildir"\noutbox = "{outbox}"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.sqlite_only("copies the SQLite file while others write it")
def test_backup_during_a_send_and_one_clicks_restores_every_commit(
    web: WebWorld, tmp_path: Path
) -> None:
    source = Path(web.settings.database_url.removeprefix("sqlite:///"))
    web.add(20_000)
    campaign = web.campaign()
    config = write_config(tmp_path / "newsletter.toml", source, tmp_path / "outbox")
    web.serve()
    stop = threading.Event()
    clicked: list[int] = []

    def one_clicks() -> None:
        with httpx.Client(base_url=web.url, timeout=30) as c:
            for subscriber_id in range(20_000, 0, -1):  # the sender goes up, these come down
                if stop.is_set():
                    return
                r = c.post(f"/unsubscribe/{web.token(subscriber_id)}", content=ONE_CLICK,
                           headers={"Content-Type": FORM})  # fmt: skip
                assert r.status_code == 200, r.text
                clicked.append(subscriber_id)

    load = threading.Thread(target=one_clicks, daemon=True)
    sender = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(config), "campaigns", "send",
         str(campaign), "--yes"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        load.start()
        deadline = time.monotonic() + 240
        while len(rows(source, SENT)) < 500 or len(clicked) < 20:
            assert sender.poll() is None, sender.stdout.read() if sender.stdout else ""
            assert time.monotonic() < deadline, "the send did not get going"
            time.sleep(0.2)
        # What is committed now must all be in the backup, which starts after this.
        before = {q: rows(source, q) for q in (SENT, EVENTS, UNSUBSCRIBED)}
        backup = tmp_path / "backup.sqlite"
        r = newsletter(config, "db", "backup", str(backup))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"Backed up sqlite:///{source} (revision ")
        assert f"Keep the secret key with it: {source}.key" in r.stdout
        assert sender.poll() is None and load.is_alive()  # both still writing
        time.sleep(1)
    finally:
        stop.set()
        load.join(60)
        newsletter(config, "campaigns", "pause", str(campaign))
        sender.wait(120)
        web.live.stop()
        web.live = None
    assert not (tmp_path / ".backup.sqlite.partial").exists()

    # Restore into a new file, as after losing the server: key file first, then the data.
    restored = tmp_path / "restored" / "newsletter.sqlite"
    restored.parent.mkdir()
    other = write_config(tmp_path / "restored.toml", restored, tmp_path / "outbox2")
    run = CliRunner().invoke(cli, ["--config", str(other), "db", "restore", str(backup)])
    assert run.exit_code == 1
    assert f"no secret key at {restored}.key: put the key file backed up with" in run.output
    shutil.copy(f"{source}.key", f"{restored}.key")
    run = CliRunner().invoke(cli, ["--config", str(other), "db", "restore", str(backup)])
    assert run.exit_code == 0, run.output
    assert run.output.startswith(f"Restored {backup} (revision ")

    after = {q: rows(source, q) for q in (SENT, EVENTS, UNSUBSCRIBED)}
    got = {q: rows(restored, q) for q in (SENT, EVENTS, UNSUBSCRIBED)}
    for q in (SENT, EVENTS, UNSUBSCRIBED):
        assert before[q] <= got[q], f"a row committed before the backup is missing: {q}"
        assert got[q] <= after[q], f"a row of the backup differs from the source: {q}"
        # The same rows as the source at the backup's moment, byte for byte.
        same = {row for row in after[q] if row in got[q]}
        assert checksum(same) == checksum(got[q])
    assert len(after[SENT]) > len(got[SENT])  # the send went on after the backup
    assert len(after[EVENTS]) > len(got[EVENTS])  # and so did the one-clicks
    with contextlib.closing(sqlite3.connect(restored)) as con:
        assert con.execute("SELECT count(*) FROM delivery").fetchone() == (20_000,)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    r = newsletter(other, "campaigns", "show", str(campaign))
    assert r.returncode == 0 and "Recipients: 20000" in r.stdout


@pytest.mark.sqlite_only("holds the SQLite file open from another process")
def test_restore_refuses_while_the_database_is_in_use_and_checks_the_revision(
    world, tmp_path: Path
) -> None:
    source = Path(world.settings.database_url.removeprefix("sqlite:///"))
    world.db.dispose()  # this process lets go; the holder below does not
    config = write_config(tmp_path / "newsletter.toml", source, tmp_path / "outbox")
    r = newsletter(config, "db", "backup", str(tmp_path / "b.sqlite"))
    assert r.returncode == 0, r.stderr
    r = newsletter(config, "db", "backup", str(tmp_path / "b.sqlite"))
    assert (r.returncode, r.stderr) == (
        2, f"Error: {tmp_path / 'b.sqlite'} exists; give a new file name (a backup never "
        "overwrites)\n",
    )  # fmt: skip
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3, time; c = sqlite3.connect({str(source)!r}); "
         "c.execute('select 1'); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout and holder.stdout.readline() == "open\n"
        r = newsletter(config, "db", "restore", str(tmp_path / "b.sqlite"))
        assert r.returncode == 1
        assert f"database {source} is in use by process {holder.pid}; stop serve" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    with contextlib.closing(sqlite3.connect(tmp_path / "b.sqlite")) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999'")
        con.commit()
    r = newsletter(config, "db", "restore", str(tmp_path / "b.sqlite"))
    assert r.returncode == 2
    assert "is at schema revision 9999, newer than this version of newsletter" in r.stderr
    (tmp_path / "c.txt").write_text("not a database")
    r = newsletter(config, "db", "restore", str(tmp_path / "c.txt"))
    assert r.returncode == 2 and "is not a SQLite database" in r.stderr


@pytest.mark.postgresql_only
def test_backup_on_postgresql_runs_pg_dump_or_says_how(world, tmp_path: Path, new_database_url):
    world.add(50)
    config = write_config(tmp_path / "newsletter.toml", world.settings.database_url, tmp_path)
    dump = tmp_path / "newsletter.dump"
    r = newsletter(config, "db", "backup", str(dump), PATH=str(tmp_path / "nothing"))
    assert r.returncode == 1
    assert "pg_dump is not on PATH; on PostgreSQL back up with: pg_dump --format=custom" in r.stderr
    assert not dump.exists()
    bindir = str(find_bindir())
    r = newsletter(config, "db", "backup", str(dump), PATH=f"{bindir}:{os.environ['PATH']}")
    assert r.returncode == 0, r.stderr
    assert "pg_dump)." in r.stdout and dump.read_bytes().startswith(b"PGDMP")
    target = new_database_url("restored", migrated=False)
    libpq = make_url(target).set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run([f"{bindir}/pg_restore", "--no-owner", f"--dbname={libpq}", str(dump)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(target)
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT count(*) FROM subscriber")).scalar() == 50
    engine.dispose()
