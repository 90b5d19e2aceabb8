"""Scheduled campaigns: a worker starts them at their time, on SQLite and on PostgreSQL.

A draft is scheduled a few seconds ahead while a real `newsletter worker`
process waits, the worker sends it to a real SMTP server on 127.0.0.1, and
the server's receive times say when it went out. What the CLI prints is
checked with a time far ahead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from delivery_helpers import World
from smtp_server import RecordingServer
from worker_helpers import run, wait_for, wait_ready, workers, write_config

from newsletter.cli import cli
from newsletter.workers import schedule
from newsletter.workers.schedule import ScheduleError, parse_when

BERLIN = ZoneInfo("Europe/Berlin")
# The schedule is this far ahead (whole seconds: a bit less) when it is set, with the worker
# already waiting; the first message must arrive within LATE_AT_MOST after it (the
# worker looks for due jobs every `poll_seconds`, 0.5 s here, then takes the batch and
# composes).
LEAD = 3
LATE_AT_MOST = 3.0


def _in_berlin(seconds: float) -> tuple[datetime, str]:
    """A time ``seconds`` ahead, whole seconds, and how an editor in Berlin writes it."""
    when = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    if when.second == 0:  # shown as "HH:MM", like a time the editor typed without seconds
        when += timedelta(seconds=1)
    return when, f"{when.astimezone(BERLIN):%Y-%m-%d %H:%M:%S}"


def _schedule(world: World, cid: int, local: str) -> None:
    """What `campaigns schedule` does, in-process: a CLI process can take longer than the lead
    on a loaded machine (its output is checked below with a time far ahead)."""
    with world.db.session() as s:
        schedule.schedule(s, cid, parse_when(local, "Europe/Berlin"), queue="newsletter")


def _unschedule(world: World, cid: int) -> None:
    with world.db.session() as s:
        schedule.unschedule(s, cid)


def test_a_scheduled_campaign_is_sent_by_a_worker_at_its_time(world: World, tmp_path: Path) -> None:
    addresses = world.add(30)
    cid = world.campaign()
    # joined after `campaigns create`: not in the campaign, scheduled or not
    world.add(1, prefix="late")
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        # someone who leaves before the time is skipped
        left = run(config, "subscribers", "unsubscribe", addresses[0])
        assert left.returncode == 0, left.stderr
        # the worker is up and waiting before the schedule exists, as in production
        with workers(config, 1, logs=tmp_path):
            wait_ready(tmp_path)
            when, local = _in_berlin(LEAD)
            _schedule(world, cid, local)
            zone = when.astimezone(BERLIN).tzname()
            assert world.state(cid) == f"scheduled for {local} {zone} (Europe/Berlin)"
            assert time.time() < when.timestamp()
            wait_for(lambda: world.state(cid).startswith("finished"), 30, "the scheduled send")
        first = min(m.at for m in srv.messages)
        received = srv.received_by()
    late = first - when.timestamp()
    print(f"first message {late:+.2f} s after the scheduled time")
    assert -0.05 <= late <= LATE_AT_MOST
    assert received == {a: 1 for a in addresses[1:]}
    assert world.counts(cid) == {"sent": 29, "skipped": 1}
    shown = run(config, "campaigns", "show", str(cid)).stdout
    assert f"Scheduled:  {local} {zone} (Europe/Berlin)" in shown
    assert "State:      finished" in shown


def test_unscheduling_before_the_time_sends_nothing(world: World, tmp_path: Path) -> None:
    addresses = world.add(10)
    gone_cid = world.campaign()
    # a second campaign for the same time: proof that the worker was there and awake
    kept_cid = world.campaign(again=True)
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        with workers(config, 1, logs=tmp_path):
            wait_ready(tmp_path)
            when, local = _in_berlin(LEAD)
            _schedule(world, gone_cid, local)
            _schedule(world, kept_cid, local)
            _unschedule(world, gone_cid)
            assert time.time() < when.timestamp()
            wait_for(lambda: world.state(kept_cid) == "finished", 30, "the kept campaign")
            time.sleep(max(0.0, when.timestamp() - time.time()) + 2.5)
        received = srv.received_by()
    assert received == {a: 1 for a in addresses}  # the kept campaign's, once each
    assert world.counts(kept_cid) == {"sent": 10}
    assert world.state(gone_cid) == "draft"
    assert world.counts(gone_cid) == {"queued": 10}
    assert "Scheduled" not in run(config, "campaigns", "show", str(gone_cid)).stdout


def test_schedule_and_unschedule_say_what_they_did(world: World, tmp_path: Path) -> None:
    world.add(2)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    done = run(
        config, "campaigns", "schedule", str(cid), "--at", "2031-12-07 09:00", "--timezone",
        "Europe/Berlin",
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (
        0,
        f"Campaign {cid} scheduled for 2031-12-07 09:00 CET (Europe/Berlin), "
        "2031-12-07 08:00:00 UTC.\nA worker sends it then: newsletter worker\n",
    )
    listed = run(config, "campaigns", "list", "--format", "csv").stdout
    assert ",scheduled for 2031-12-07 09:00 CET (Europe/Berlin)," in listed
    shown = run(config, "campaigns", "show", str(cid)).stdout
    assert "Scheduled:  2031-12-07 09:00 CET (Europe/Berlin)" in shown
    gone = run(config, "campaigns", "unschedule", str(cid))
    assert (gone.returncode, gone.stdout) == (
        0,
        f"Campaign {cid} is no longer scheduled; it is a draft again.\n",
    )
    assert "Scheduled" not in run(config, "campaigns", "show", str(cid)).stdout
    again = run(config, "campaigns", "unschedule", str(cid))
    assert (again.returncode, again.stderr) == (2, f"Error: campaign {cid} is not scheduled\n")


def test_a_scheduled_campaign_is_not_sent_by_hand_before_it_is_unscheduled(
    world: World, tmp_path: Path
) -> None:
    world.add(3)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    run(config, "campaigns", "schedule", str(cid), "--at", "2031-01-15 09:00", "--timezone", "UTC")
    sent = run(config, "campaigns", "send", str(cid), "--yes")
    assert sent.returncode == 1
    assert sent.stderr == (
        f"Error: campaign {cid} is scheduled for 2031-01-15 09:00 UTC; to send it now, "
        f"unschedule it first: newsletter campaigns unschedule {cid}\n"
    )
    assert world.counts(cid) == {"queued": 3}


@pytest.mark.parametrize(
    ("at", "zone", "message"),
    [
        ("2031-03-30 02:30", "Europe/Berlin", "does not exist in Europe/Berlin"),
        ("2031-10-26 02:30", "Europe/Berlin", "happens twice in Europe/Berlin"),
        ("2020-01-01 09:00", "Europe/Berlin", "is in the past"),
        ("7 December, 9am", "Europe/Berlin", 'expected "YYYY-MM-DD HH:MM"'),
        ("2031-01-01 09:00", "Europe/Atlantis", "unknown time zone 'Europe/Atlantis'"),
    ],
)
def test_times_that_cannot_be_a_schedule_are_refused(at: str, zone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_when(at, zone)


def test_a_schedule_is_the_instant_the_editor_meant() -> None:
    winter = parse_when("2031-12-07 09:00", "Europe/Berlin")
    summer = parse_when("2031-07-07 09:00", "Europe/Berlin")
    assert (winter.at, winter.zone) == (datetime(2031, 12, 7, 8, 0, tzinfo=UTC), "Europe/Berlin")
    assert summer.at == datetime(2031, 7, 7, 7, 0, tzinfo=UTC)
    assert parse_when("2031-12-07T09:00:30", "UTC").at == datetime(
        2031, 12, 7, 9, 0, 30, tzinfo=UTC
    )


def test_a_bad_time_is_bad_input_and_changes_nothing(world: World, tmp_path: Path) -> None:
    world.add(2)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    bad = run(
        config,
        "campaigns",
        "schedule",
        str(cid),
        "--at",
        "2031-03-30 02:30",
        "--timezone",
        "Europe/Berlin",
    )
    assert bad.returncode == 2
    assert bad.stderr == (
        "Error: --at: 2031-03-30 02:30 does not exist in Europe/Berlin: the clocks go forward "
        "over it; choose a time outside that hour\n"
    )
    assert world.state(cid) == "draft"


@pytest.mark.sqlite_only("the refusal is SQLite's: PostgreSQL has the job queue")
def test_enqueue_on_sqlite_says_it_needs_postgresql(world: World, tmp_path: Path) -> None:
    world.add(2)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    refused = run(config, "campaigns", "send", str(cid), "--enqueue", "--yes")
    assert (refused.returncode, refused.stderr) == (
        2,
        "Error: --enqueue needs PostgreSQL: workers share a campaign through its job queue "
        "(procrastinate). On SQLite, send it with one process: newsletter campaigns send ID\n",
    )
    assert world.state(cid) == "draft"


def test_a_campaign_paused_from_elsewhere_leaves_the_worker_working(
    world: World, tmp_path: Path
) -> None:
    """Pausing one scheduled campaign while the worker sends it stops that campaign only: the
    same worker goes on to send the next one (it used to end its loop as if told to stop)."""
    addresses = world.add(20)
    slow_cid = world.campaign()
    next_cid = world.campaign(again=True)
    with RecordingServer() as srv:
        config = write_config(
            world, tmp_path / "newsletter.toml", srv.port, delivery={"rate_per_second": 5}
        )
        with workers(config, 1, logs=tmp_path) as procs:
            wait_ready(tmp_path)
            _schedule(world, slow_cid, _in_berlin(1)[1])
            wait_for(lambda: len(srv.messages) >= 2, 30, "the first campaign to start")
            # from this process (not the worker's): in-process, so the pause lands within the
            # campaign's 4 s even when a new interpreter would take longer to start
            paused = CliRunner().invoke(
                cli, ["--config", str(config), "campaigns", "pause", str(slow_cid)]
            )
            assert paused.exit_code == 0, paused.output
            wait_for(lambda: world.state(slow_cid).startswith("paused"), 30, "the pause")
            _schedule(world, next_cid, _in_berlin(1)[1])
            wait_for(lambda: world.state(next_cid).startswith("finished"), 60, "the next one")
            assert procs[0].poll() is None  # still working
        received = srv.received_by()
    slow = world.counts(slow_cid)
    assert 0 < slow["sent"] < 20 and slow.get("queued", 0) + slow["sent"] == 20
    assert world.counts(next_cid) == {"sent": 20}
    # the paused campaign's recipients once each, the next campaign's once each
    assert all(received[a] in (1, 2) for a in addresses)
    assert sum(received.values()) == slow["sent"] + 20
