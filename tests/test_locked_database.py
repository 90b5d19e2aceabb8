"""Another process holds the SQLite file locked while a campaign sends: wait, or pause cleanly.

The lock is real: a second process runs ``BEGIN EXCLUSIVE`` on the database
file and sleeps, as a long import or a careless backup script would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import ROOT, World
from smtp_server import RecordingServer

from newsletter.cli import cli
from newsletter.subscribers.tables import Subscriber

pytestmark = pytest.mark.sqlite_only("SQLite's file lock, taken by a second process")

# Each lock outlasts what it must: the SMTP timeout (5 s, so the connections sit idle through a
# wait longer than any of their socket timeouts) and the pausing test's limit (2 s) three times
# over; was 15 s, which cost 18 s of waiting without asserting anything more.
HOLD = 6.0
RECIPIENTS = 150

_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    c.execute("COMMIT")
    """
)


def _config(world: World, tmp_path: Path, port: int, extra: str = "") -> Path:
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[database]\nurl = "{world.settings.database_url}"\n'
        f'[delivery]\ntransport = "smtp"\nrate_per_second = 30.0\n{extra}'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\npool = 2\ntimeout = 5.0\n',
        encoding="utf-8",
    )
    return config


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", "--config", str(config), *args]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _send_with_a_lock_in_the_middle(
    world: World, srv: RecordingServer, config: Path, cid: int
) -> subprocess.CompletedProcess[str]:
    sender = subprocess.Popen(
        _cli(config, "campaigns", "send", str(cid), "--yes"),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(srv.messages) < 20 and time.monotonic() < deadline:
        assert sender.poll() is None, sender.communicate()
        time.sleep(0.01)
    path = world.settings.database_url.removeprefix("sqlite:///")
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, path, str(HOLD)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    locked_at = len(srv.messages)
    out, err = sender.communicate(timeout=HOLD + 60)
    assert locker.wait(timeout=5) == 0
    assert locked_at < RECIPIENTS, "the campaign ended before the lock; slow it down"
    return subprocess.CompletedProcess(sender.args, sender.returncode, out, err)


def test_a_lock_shorter_than_the_limit_is_waited_out(world: World, tmp_path: Path) -> None:
    addresses = world.add(RECIPIENTS)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = _config(world, tmp_path, srv.port)
        started = time.monotonic()
        sent = _send_with_a_lock_in_the_middle(world, srv, config, cid)
        assert time.monotonic() - started >= HOLD  # it did wait for the lock
        received = srv.received_by()
    assert sent.returncode == 0, sent.stderr
    assert "Traceback" not in sent.stderr
    assert sent.stdout == f"Campaign {cid}: finished ({RECIPIENTS} sent)\n"
    assert received == {a: 1 for a in addresses}
    assert world.counts(cid) == {"sent": RECIPIENTS}


def test_a_lock_longer_than_the_limit_pauses_cleanly(world: World, tmp_path: Path) -> None:
    addresses = world.add(RECIPIENTS)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = _config(world, tmp_path, srv.port, "database_wait_seconds = 2.0\n")
        paused = _send_with_a_lock_in_the_middle(world, srv, config, cid)
        assert paused.returncode == 1, paused.stderr
        assert "Traceback" not in paused.stderr
        assert paused.stderr.splitlines() == [
            "Error: the database stayed locked by another process for 2 s (a backup, a long "
            f"import or another sender?); sending stopped; campaign {cid} is paused, "
            f"resume with: newsletter campaigns resume {cid}"
        ]
        # nothing lost: every message the server took is logged as sent, the rest queued
        received = srv.received_by()
        counts = world.counts(cid)
        assert counts == {"sent": len(received), "queued": RECIPIENTS - len(received)}
        assert set(received) == {a for a, d in world.log(cid).items() if d.status == "sent"}
        assert world.state(cid) == "paused"

        resumed = subprocess.run(
            _cli(config, "campaigns", "resume", str(cid), "--yes"),
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert srv.received_by() == {a: 1 for a in addresses}
    assert world.counts(cid) == {"sent": RECIPIENTS}


def test_other_commands_wait_for_a_short_lock(world: World, tmp_path: Path) -> None:
    config = _config(world, tmp_path, 25)
    path = world.settings.database_url.removeprefix("sqlite:///")
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, path, "3"], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    r = subprocess.run(
        _cli(config, "lists", "create", "later", "--name", "Later"),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert locker.wait(timeout=10) == 0
    assert (r.returncode, r.stdout, r.stderr) == (0, "Created list later (Later).\n", "")


def test_a_lock_outlasting_the_busy_timeout_is_one_clear_line(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsletter.db
    import newsletter.db.locks

    # SQLite's own wait (30 s) shortened, so the lock outlasts it quickly
    monkeypatch.setattr(newsletter.db, "BUSY_TIMEOUT_MS", 1000)
    monkeypatch.setattr(newsletter.db.locks, "BUSY_TIMEOUT_MS", 1000)
    config = _config(world, tmp_path, 25)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nanna@example.org,Anna\nbob@example.org,Bob\n", encoding="utf-8")
    path = world.settings.database_url.removeprefix("sqlite:///")
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, path, "3"], stdout=subprocess.PIPE, text=True
    )  # three times the busy timeout
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    r = CliRunner().invoke(
        cli,
        ["--config", str(config), "subscribers", "import", str(people), "--list", "news"],
        catch_exceptions=False,  # a traceback fails the test
    )
    assert locker.wait(timeout=10) == 0
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: the database stayed locked by another process for 1 s (a backup, a long "
        "import or a sender?); what this command had not committed was rolled back: run it "
        "again when the other one is done\n",
    )
    with world.db.session() as s:  # all or nothing: the import did not half happen
        assert s.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() == 0
