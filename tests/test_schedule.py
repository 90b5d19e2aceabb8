"""Scheduled campaigns: a worker starts them at their time, on SQLite and on PostgreSQL.

The CLI schedules a draft a few seconds ahead, a real `newsletter worker`
process sends it to a real SMTP server on 127.0.0.1, and the server's
receive times say when it went out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from delivery_helpers import World
from smtp_server import RecordingServer
from worker_helpers import run, wait_for, workers, write_config

from newsletter.workers.schedule import ScheduleError, parse_when

BERLIN = ZoneInfo("Europe/Berlin")


def _in_berlin(seconds: float) -> tuple[datetime, str]:
    """A time ``seconds`` ahead, whole seconds, and how an editor in Berlin writes it."""
    when = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return when, f"{when.astimezone(BERLIN):%Y-%m-%d %H:%M:%S}"


def test_a_scheduled_campaign_is_sent_by_a_worker_at_its_time(world: World, tmp_path: Path) -> None:
    addresses = world.add(30)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        when, local = _in_berlin(5)
        scheduled = run(
            config, "campaigns", "schedule", str(cid), "--at", local, "--timezone", "Europe/Berlin"
        )
        assert scheduled.returncode == 0, scheduled.stderr
        zone = when.astimezone(BERLIN).tzname()
        assert scheduled.stdout.splitlines()[0] == (
            f"Campaign {cid} scheduled for {local} {zone} (Europe/Berlin), "
            f"{when:%Y-%m-%d %H:%M:%S} UTC."
        )
        listed = run(config, "campaigns", "list", "--format", "csv").stdout
        assert f"scheduled for {local} {zone} (Europe/Berlin)" in listed
        # the snapshot is not taken again: someone who leaves before the time is skipped
        left = run(config, "subscribers", "unsubscribe", addresses[0])
        assert left.returncode == 0, left.stderr
        with workers(config, 1, logs=tmp_path):
            wait_for(lambda: world.state(cid).startswith("finished"), 30, "the scheduled send")
        first = min(m.at for m in srv.messages)
        received = srv.received_by()
    assert when.timestamp() - 0.05 <= first <= when.timestamp() + 5
    assert received == {a: 1 for a in addresses[1:]}
    assert world.counts(cid) == {"sent": 29, "skipped": 1}
    shown = run(config, "campaigns", "show", str(cid)).stdout
    assert f"Scheduled:  {local} {zone} (Europe/Berlin)" in shown
    assert "State:      finished" in shown


def test_unscheduling_before_the_time_sends_nothing(world: World, tmp_path: Path) -> None:
    world.add(10)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        when, local = _in_berlin(5)
        assert (
            run(
                config,
                "campaigns",
                "schedule",
                str(cid),
                "--at",
                local,
                "--timezone",
                "Europe/Berlin",
            ).returncode
            == 0
        )
        with workers(config, 1, logs=tmp_path):
            gone = run(config, "campaigns", "unschedule", str(cid))
            assert gone.returncode == 0, gone.stderr
            assert gone.stdout == f"Campaign {cid} is no longer scheduled; it is a draft again.\n"
            time.sleep(max(0.0, when.timestamp() - time.time()) + 2.5)
        assert srv.messages == []
    assert world.state(cid) == "draft"
    assert world.counts(cid) == {"queued": 10}
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
