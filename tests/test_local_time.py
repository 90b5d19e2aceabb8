"""Sending at each subscriber's local time: waves per UTC offset, on SQLite and PostgreSQL.

A real `newsletter worker` sends to a real SMTP server on 127.0.0.1. The
waves of one day span thirteen hours, so the test owns the schedules'
clock (``NEWSLETTER_CLOCK_SHIFT_FILE``, see ``newsletter/clock.py``): it
moves time to two seconds before each wave, as test_schedule.py schedules a
few seconds ahead, and reads each message's receive time on that clock. On
PostgreSQL, procrastinate compares its jobs' ``scheduled_at`` with the
server's clock, which a test cannot move; moving every waiting job back by
the same jump is the same thing seen from the queue.

The list: three people in Berlin, two in Shanghai and one more with
language zh-Hans and no zone (the list infers Asia/Shanghai from it), two in
New York, and two with neither zone nor language, who get the campaign's
zone (Europe/London). 14 January 2031: Shanghai's 09:00 is 01:00 UTC,
Berlin's 08:00, London's 09:00, New York's 14:00.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from delivery_helpers import World
from smtp_server import RecordingServer
from worker_helpers import run, wait_for, wait_ready, workers, write_config

from newsletter import clock
from newsletter.campaigns import waves
from newsletter.campaigns.waves import WaveError, instant, plan

DAY = "2031-01-14"
WAVES = [  # (UTC, zones)
    (datetime(2031, 1, 14, 1, 0, tzinfo=UTC), {"Asia/Shanghai"}),
    (datetime(2031, 1, 14, 8, 0, tzinfo=UTC), {"Europe/Berlin"}),
    (datetime(2031, 1, 14, 9, 0, tzinfo=UTC), {"Europe/London"}),
    (datetime(2031, 1, 14, 14, 0, tzinfo=UTC), {"America/New_York"}),
]
# seconds before a wave the clock is moved to: two looks of the worker (poll 0.5 s) at which
# the wave is not yet due (was 2 s: four looks, 1 s more per wave, 13 waves in this module)
LEAD = 1.0
LATE_AT_MOST = 4.0  # seconds after its time a wave's last message may arrive (poll 0.5 s)


class Clock:
    """The schedules' clock, moved by the test; remembers each move to read receive times."""

    def __init__(self, path: Path, world: World):
        self.path, self.world = path, world
        self.moves: list[tuple[float, float]] = []  # (system time of the move, shift after it)
        self.shift = 0.0

    def set(self, virtual: datetime) -> None:
        postgresql = self.world.db.engine.dialect.name == "postgresql"
        if postgresql:
            # A batch that just sent a wave defers its next run at the next wave's time on the
            # clock it reads when it settles. Moving the clock before that commits would leave
            # the new job at the old clock's time, hours away (CI saw "waiting for wave 3"
            # time out after a killed worker's batch was taken over), so wait for it.
            wait_for(self._settled, 60, "the workers' running jobs to settle")
        shift = (virtual - datetime.now(UTC)).total_seconds()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(shift), encoding="utf-8")
        tmp.replace(self.path)
        jump, self.shift = shift - self.shift, shift
        self.moves.append((time.time(), shift))
        if postgresql:
            with self.world.db.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE procrastinate_jobs SET scheduled_at = scheduled_at - "
                        "make_interval(secs => :jump) "
                        "WHERE status = 'todo' AND scheduled_at IS NOT NULL"
                    ),
                    {"jump": jump},
                )

    def _settled(self) -> bool:
        with self.world.db.engine.connect() as conn:
            doing = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
            return conn.execute(sa.text(doing)).scalar() == 0

    def at(self, system: float) -> datetime:
        """A system time (a message's receive time) on this clock."""
        shift = next(s for t, s in reversed(self.moves) if t <= system)
        return datetime.fromtimestamp(system + shift, UTC)


@pytest.fixture
def test_clock(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    path = tmp_path / "clock-shift"
    path.write_text("0", encoding="utf-8")
    monkeypatch.setenv(clock.SHIFT_FILE, str(path))  # the CLI and workers inherit it
    c = Clock(path, world)
    c.set(datetime(2031, 1, 13, 12, 0, tzinfo=UTC))
    yield c


def _people(world: World) -> dict[str, set[str]]:
    """The list above; zone → addresses (the zone each is timed in)."""
    zones: dict[str, set[str]] = {}

    def add(n: int, prefix: str, zone: str | None, language: str | None, timed: str) -> None:
        addresses = world.add(n, prefix=prefix)
        with world.db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE subscriber SET timezone = :z, language = :l WHERE email = :e"),
                [{"z": zone, "l": language, "e": a} for a in addresses],
            )
        zones.setdefault(timed, set()).update(addresses)

    add(3, "berlin", "Europe/Berlin", "de", "Europe/Berlin")
    add(2, "shanghai", "Asia/Shanghai", None, "Asia/Shanghai")
    add(1, "zh", None, "zh-Hans", "Asia/Shanghai")
    add(2, "nyc", "America/New_York", "en", "America/New_York")
    add(2, "nozone", None, None, "Europe/London")
    with world.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE mailing_list SET timezone_from_language = true"))
    return zones


def _schedule(config: Path, cid: int, *more: str) -> str:
    done = run(
        config, "campaigns", "schedule", str(cid), "--local", "09:00", "--on", DAY,
        "--timezone", "Europe/London", *more,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


SCHEDULED = (
    "scheduled in 4 waves:\n"
    "  1. 2031-01-14 01:00 UTC: 2031-01-14 09:00 in Asia/Shanghai (3 recipients)\n"
    "  2. 2031-01-14 08:00 UTC: 2031-01-14 09:00 in Europe/Berlin (3 recipients)\n"
    "  3. 2031-01-14 09:00 UTC: 2031-01-14 09:00 in Europe/London (2 recipients)\n"
    "  4. 2031-01-14 14:00 UTC: 2031-01-14 09:00 in America/New_York (2 recipients)\n"
    "A worker sends each wave then: newsletter worker\n"
)


def _wave(srv: RecordingServer, c: Clock, number: int, zones: dict[str, set[str]]) -> None:
    """Move the clock to just before wave ``number``, and see exactly its people get it then."""
    at, wave_zones = WAVES[number - 1]
    before = len(srv.messages)
    expected = set().union(*(zones[z] for z in wave_zones))
    c.set(at - timedelta(seconds=LEAD))
    # generous: on PostgreSQL under a parallel suite a worker's poll, its job's fetch and the
    # sends share two cores with another worker's cluster (CI once needed over 30 s)
    wait_for(lambda: len(srv.messages) >= before + len(expected), 90, f"wave {number}")
    time.sleep(0.5)  # nobody else's comes with it
    new = srv.messages[before:]
    assert {m.rcpt for m in new} == expected and len(new) == len(expected)
    for m in new:
        late = (c.at(m.at) - at).total_seconds()
        assert 0 <= late <= LATE_AT_MOST, f"{m.rcpt}: {late:+.2f} s after its local 09:00"


def test_each_wave_leaves_at_its_local_nine_exactly_once(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    zones = _people(world)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        assert _schedule(config, cid) == f"Campaign {cid} {SCHEDULED}"
        assert world.state(cid) == "scheduled at local times, first wave at 2031-01-14 01:00 UTC"
        with workers(config, 1, logs=tmp_path):
            wait_ready(tmp_path)
            for number in range(1, 5):
                _wave(srv, test_clock, number, zones)
                if number < 4:
                    assert world.state(cid).endswith(
                        f"next wave at {WAVES[number][0]:%Y-%m-%d %H:%M} UTC"
                    )
            wait_for(lambda: world.state(cid) == "finished", 30, "the campaign to finish")
        received = srv.received_by()
    everyone = set().union(*zones.values())
    assert received == {a: 1 for a in everyone}
    assert world.counts(cid) == {"sent": 10}
    shown = run(config, "campaigns", "show", str(cid)).stdout
    assert (
        "Waves:      (zones, local time, UTC, recipients, sent)\n"
        "  1. Asia/Shanghai  2031-01-14 09:00  2031-01-14 01:00 UTC  3 recipients, 3 sent\n"
        "  2. Europe/Berlin  2031-01-14 09:00  2031-01-14 08:00 UTC  3 recipients, 3 sent\n"
        "  3. Europe/London  2031-01-14 09:00  2031-01-14 09:00 UTC  2 recipients, 2 sent\n"
        "  4. America/New_York  2031-01-14 09:00  2031-01-14 14:00 UTC  2 recipients, 2 sent\n"
    ) in shown
    log = run(config, "log", str(cid), "--format", "json").stdout
    by_address = {row["address"]: row["zone"] for row in json.loads(log)}
    assert by_address == {a: z for z, people in zones.items() for a in people}
    # the zone inferred from a language is this campaign's, not the subscriber's
    with world.db.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT timezone FROM subscriber WHERE email LIKE 'zh%'")
        ).scalar()
    assert stored is None


def test_unscheduling_after_the_first_wave_sends_no_more(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    zones = _people(world)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        _schedule(config, cid)
        with workers(config, 1, logs=tmp_path):
            wait_ready(tmp_path)
            _wave(srv, test_clock, 1, zones)
            wait_for(lambda: "next wave" in world.state(cid), 30, "the first wave to end")
            gone = run(config, "campaigns", "unschedule", str(cid))
            assert (gone.returncode, gone.stdout) == (
                0,
                f"Campaign {cid}: its remaining waves are cancelled (finished).\n",
            )
            for at, _ in WAVES[1:]:
                test_clock.set(at + timedelta(seconds=1))
                time.sleep(1.5)  # two looks of the worker at every later wave's time
        received = srv.received_by()
    assert received == {a: 1 for a in zones["Asia/Shanghai"]}
    assert world.counts(cid) == {"sent": 3, "cancelled": 7}
    assert world.state(cid) == "finished"
    shown = run(config, "campaigns", "show", str(cid)).stdout
    assert (
        "  1. Asia/Shanghai  2031-01-14 09:00  2031-01-14 01:00 UTC  3 recipients, 3 sent\n"
        "  2. Europe/Berlin  2031-01-14 09:00  2031-01-14 08:00 UTC  3 recipients, 0 sent "
        "(cancelled)\n"
    ) in shown


def test_a_worker_killed_between_waves_loses_nothing(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    zones = _people(world)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(world, tmp_path / "newsletter.toml", srv.port)
        _schedule(config, cid)
        with workers(config, 1, logs=tmp_path) as procs:
            wait_ready(tmp_path)
            _wave(srv, test_clock, 1, zones)
            wait_for(lambda: "next wave" in world.state(cid), 30, "the first wave to end")
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
        # a new worker, as a supervisor would start one
        logs = tmp_path / "after"
        logs.mkdir()
        with workers(config, 1, logs=logs):
            wait_ready(logs)
            for number in range(2, 5):
                _wave(srv, test_clock, number, zones)
            wait_for(lambda: world.state(cid) == "finished", 30, "the campaign to finish")
        received = srv.received_by()
    assert received == {a: 1 for a in set().union(*zones.values())}
    assert world.counts(cid) == {"sent": 10}


def test_a_zone_whose_time_has_passed_is_refused_or_handled_as_asked(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    zones = _people(world)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    test_clock.set(datetime(2031, 1, 14, 5, 0, tzinfo=UTC))  # Shanghai's 09:00 was 01:00 UTC
    refused = run(
        config, "campaigns", "schedule", str(cid), "--local", "09:00", "--on", DAY,
        "--timezone", "Europe/London",
    )  # fmt: skip
    assert (refused.returncode, refused.stderr) == (
        2,
        "Error: --local: 09:00 on 2031-01-14 has already passed in Asia/Shanghai "
        "(2031-01-14 01:00 UTC); choose a later --on, or --late send|skip\n",
    )
    assert world.state(cid) == "draft"
    skipped = _schedule(config, cid, "--late", "skip")
    assert skipped.startswith(f"Campaign {cid} scheduled in 3 waves:\n")
    assert "3 recipient(s) left out: their time had passed (--late skip).\n" in skipped
    assert world.counts(cid) == {"queued": 7, "cancelled": 3}
    # "now" is the clock's 05:00 again: the commands above took their time (on a loaded
    # machine, over a minute: the late wave was then due at 05:01)
    test_clock.set(datetime(2031, 1, 14, 5, 0, tzinfo=UTC))
    sent_now = _schedule(config, cid, "--late", "send")  # rescheduling a draft replaces it
    assert "  1. 2031-01-14 05:00 UTC: 2031-01-14 13:00 in Asia/Shanghai (3 recipients)\n" in (
        sent_now
    )
    assert world.counts(cid) == {"queued": 10}
    at_once = run(config, "campaigns", "schedule", str(cid), "--at", "2031-01-15 09:00")
    assert at_once.returncode == 0, at_once.stderr  # one time for all replaces the waves
    assert "Waves" not in run(config, "campaigns", "show", str(cid)).stdout
    with world.db.engine.connect() as conn:
        timed = conn.execute(
            sa.text("SELECT count(*) FROM delivery WHERE next_attempt_at IS NOT NULL")
        ).scalar()
    assert timed == 0
    _schedule(config, cid, "--late", "send")
    gone = run(config, "campaigns", "unschedule", str(cid))
    assert gone.stdout == f"Campaign {cid} is no longer scheduled; it is a draft again.\n"
    with world.db.engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM delivery WHERE wave IS NOT NULL OR zone IS NOT NULL")
        ).scalar()
    assert left == 0
    assert zones  # (the people are those of the other tests)


def test_a_time_the_clocks_skip_is_refused_in_one_line(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    _people(world)
    cid = world.campaign()
    config = write_config(world, tmp_path / "newsletter.toml", None)
    # 30 March 2031: Berlin's clocks go from 02:00 to 03:00
    bad = run(
        config, "campaigns", "schedule", str(cid), "--local", "02:30", "--on", "2031-03-30",
        "--timezone", "Europe/London",
    )  # fmt: skip
    assert (bad.returncode, bad.stderr) == (
        2,
        "Error: --local: 02:30 does not exist on 2031-03-30 in Europe/Berlin: the clocks go "
        "forward over it; choose another time\n",
    )
    assert world.state(cid) == "draft"


# -- the planning itself, on any clock ---------------------------------------------------------

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def test_a_dst_change_date_is_computed_for_that_day() -> None:
    counts = {"Europe/Berlin": 3, "America/New_York": 2, "Asia/Shanghai": 1}
    # 30 March 2031: Berlin is on summer time from 02:00 (UTC+2); New York since 9 March
    spring = plan(counts, date(2031, 3, 30), waves.parse_local("09:00"), now=NOW)
    assert [(w.at, w.zones) for w in spring] == [
        (datetime(2031, 3, 30, 1, 0, tzinfo=UTC), ("Asia/Shanghai",)),
        (datetime(2031, 3, 30, 7, 0, tzinfo=UTC), ("Europe/Berlin",)),
        (datetime(2031, 3, 30, 13, 0, tzinfo=UTC), ("America/New_York",)),
    ]
    # the day before, Berlin was still on UTC+1
    assert instant(date(2031, 3, 29), waves.parse_local("09:00"), "Europe/Berlin") == datetime(
        2031, 3, 29, 8, 0, tzinfo=UTC
    )
    # 26 October 2031: 02:30 happens twice in Berlin; the first (summer time) is taken
    assert instant(date(2031, 10, 26), waves.parse_local("02:30"), "Europe/Berlin") == datetime(
        2031, 10, 26, 0, 30, tzinfo=UTC
    )
    with pytest.raises(WaveError, match="02:30 does not exist on 2031-03-30 in Europe/Berlin"):
        plan(counts, date(2031, 3, 30), waves.parse_local("02:30"), now=NOW)


def test_zones_with_one_offset_share_a_wave_and_the_date_line_comes_first() -> None:
    counts = {"Europe/Berlin": 2, "Europe/Paris": 1, "Pacific/Auckland": 1, "Pacific/Honolulu": 1}
    planned = plan(counts, date(2031, 1, 14), waves.parse_local("09:00"), now=NOW)
    assert [(w.number, w.at, w.zones, w.recipients) for w in planned] == [
        # Auckland's 09:00 on the 14th is the 13th in UTC (UTC+13 in summer)
        (1, datetime(2031, 1, 13, 20, 0, tzinfo=UTC), ("Pacific/Auckland",), 1),
        (2, datetime(2031, 1, 14, 8, 0, tzinfo=UTC), ("Europe/Berlin", "Europe/Paris"), 3),
        (3, datetime(2031, 1, 14, 19, 0, tzinfo=UTC), ("Pacific/Honolulu",), 1),
    ]


def test_the_zone_of_a_recipient_without_one() -> None:
    def zone(chosen: str | None, language: str | None, **kw: object) -> str:
        options: dict = {"list_zone": None, "from_language": True, "campaign_zone": "UTC", **kw}
        return waves.zone_for(chosen, language, **options)

    assert zone("America/New_York", "zh-Hans") == "America/New_York"
    assert zone(None, "zh-Hans") == "Asia/Shanghai"
    assert zone(None, "zh") == "Asia/Shanghai"
    assert zone(None, "zh-Hans", from_language=False) == "UTC"
    assert zone(None, "zh-Hans", list_zone="Europe/Berlin") == "Europe/Berlin"
    assert zone(None, "de") == "UTC"
    assert zone(None, None, campaign_zone="Europe/London") == "Europe/London"


def test_a_wave_the_rate_limit_cannot_send_within_the_window_is_refused(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    _people(world)
    cid = world.campaign()
    config = write_config(
        world, tmp_path / "newsletter.toml", None, delivery={"rate_per_minute": 1}
    )
    narrow = run(
        config, "campaigns", "schedule", str(cid), "--local", "09:00", "--on", DAY,
        "--timezone", "Europe/London", "--window", "2m",
    )  # fmt: skip
    assert (narrow.returncode, narrow.stderr) == (
        2,
        "Error: --window: wave 1 (Asia/Shanghai, 3 recipients) needs 3 min at the rate limit "
        "of 1 per minute; widen the window or raise the limit\n",
    )
    assert world.state(cid) == "draft"
    bad = run(config, "campaigns", "schedule", str(cid), "--local", "09:00", "--window", "soon")
    assert (bad.returncode, bad.stderr) == (
        2,
        "Error: --window: expected a duration such as 2h or 90m, got 'soon'\n",
    )
    wide = _schedule(config, cid, "--window", "1h")
    assert wide == f"Campaign {cid} {SCHEDULED}"


def _wave_done(world: World, cid: int, zone: str) -> bool:
    with world.db.engine.connect() as conn:
        left = conn.execute(
            sa.text(
                "SELECT count(*) FROM delivery WHERE campaign_id = :c AND zone = :z "
                "AND status IN ('queued', 'sending', 'deferred')"
            ),
            {"c": cid, "z": zone},
        ).scalar()
    return left == 0


def test_a_worker_killed_in_the_middle_of_a_wave_sends_nobody_anything_twice(
    world: World, tmp_path: Path, test_clock: Clock
) -> None:
    """The wave's messages in flight at the kill become `unknown` (never sent again); the rest
    of the wave goes with the next worker, and the later waves at their times."""
    zones = _people(world)
    berliners = world.add(150, prefix="moreberlin")
    with world.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE subscriber SET timezone = 'Europe/Berlin' WHERE email LIKE 'more%'")
        )
    zones["Europe/Berlin"] |= set(berliners)
    cid = world.campaign()
    with RecordingServer() as srv:
        config = write_config(
            world, tmp_path / "newsletter.toml", srv.port, delivery={"rate_per_second": 40}
        )
        _schedule(config, cid)
        with workers(config, 1, logs=tmp_path) as procs:
            wait_ready(tmp_path)
            _wave(srv, test_clock, 1, zones)
            test_clock.set(WAVES[1][0] - timedelta(seconds=LEAD))
            wait_for(lambda: len(srv.messages) >= 3 + 40, 30, "a part of the Berlin wave")
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
        assert len(srv.messages) < 3 + 153  # killed in the middle of it
        logs = tmp_path / "after"
        logs.mkdir()
        with workers(config, 1, logs=logs):
            wait_ready(logs)
            # on PostgreSQL the dead worker's batches come back once its heartbeat is stale
            wait_for(lambda: _wave_done(world, cid, "Europe/Berlin"), 60, "the Berlin wave")
            for number in (3, 4):
                _wave(srv, test_clock, number, zones)
            wait_for(lambda: world.state(cid).startswith("finished"), 30, "the campaign to end")
        received = srv.received_by()
    counts = world.counts(cid)
    everyone = set().union(*zones.values())
    assert set(received.values()) == {1}  # nobody twice
    assert counts["sent"] == len(received) and counts["sent"] + counts.get("unknown", 0) == 160
    log = world.log(cid)
    assert {a for a in everyone if log[a].status == "unknown"} == everyone - set(received)
