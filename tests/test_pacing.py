"""The shared send rate: per-second slots and GCRA buckets, simulated and on the database.

The worker tests measure the rate at a real SMTP server; these check the
arithmetic exactly (any window, any limit) and that reservations from many
connections at once are serialised by the database row.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from window_helpers import most_within

from newsletter.db import Database
from newsletter.ratelimit import CATCH_UP
from newsletter.workers.pacing import RATE, SharedRate, _decode, buckets, reserve


def _starts(n: int, limits, *, every: float = 0.0) -> list[float]:  # type: ignore[no-untyped-def]
    """Start times (s) of ``n`` messages asked for at once, or one every ``every`` s."""
    origin = datetime(2031, 1, 1, tzinfo=UTC)
    state: dict[str, datetime | None] = {}
    out = []
    for i in range(n):
        asked = origin + timedelta(seconds=i * every)
        out.append((reserve(asked, state, limits) - origin).total_seconds())
    return out


@pytest.mark.parametrize(
    ("limits", "window", "allowed"),
    [
        (buckets(40.0, None, None), 1.0, 40),
        (buckets(None, 600, None), 60.0, 600),
        (buckets(None, None, 5000), 3600.0, 5000),
        (buckets(0.5, None, None), 2.0, 1),
    ],
)
def test_no_window_sees_more_than_five_percent_over_its_limit(limits, window, allowed) -> None:  # type: ignore[no-untyped-def]
    starts = _starts(3 * allowed, limits)
    assert most_within(starts, window) <= allowed * 1.05
    # and over the whole run, the limit exactly
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert rate == pytest.approx(allowed / window, rel=0.06)


def test_a_per_second_limit_spaces_messages_evenly() -> None:
    starts = _starts(5, buckets(4.0, None, None))
    assert starts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_the_tightest_of_several_limits_wins() -> None:
    starts = _starts(200, buckets(100.0, 120, None))
    assert most_within(starts, 60.0) <= 126  # the minute's 120, plus its burst of 6
    assert most_within(starts, 1.0) <= 100


def test_an_idle_sender_is_not_held_back() -> None:
    starts = _starts(10, buckets(2.0, None, None), every=1.0)
    assert starts == pytest.approx([float(i) for i in range(10)])


def test_reservations_from_many_connections_are_serialised(db: Database) -> None:
    limits = buckets(200.0, None, None)
    starts: list[datetime] = []
    lock = threading.Lock()

    def sender() -> None:
        pacer = SharedRate(db.engine, "smtp 127.0.0.1:25", limits)
        try:
            for _ in range(25):
                start, _now = pacer.take()
                with lock:
                    starts.append(start)
        finally:
            pacer.close()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 100 reservations from 4 connections at once, each its own slot: the k-th at least k
    # spacings of 5 ms after the first. (On a loaded machine the connections fall behind
    # 200/s and catch up, so two starts may be closer than 5 ms; issue 22.)
    ordered = sorted(starts)
    assert len(ordered) == 100
    for k, start in enumerate(ordered):
        assert (start - ordered[0]).total_seconds() >= k * 0.005 - 1e-6
    # and none was lost to a concurrent update: the row remembers every start, in order
    assert _row_starts(db) == [_us(t) for t in ordered]
    assert most_within(_seconds(ordered), 1.0) <= 200


_ORIGIN = datetime(2031, 1, 1, tzinfo=UTC)


def _us(when: datetime) -> int:
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _seconds(starts: list[datetime]) -> list[float]:
    return [(t - starts[0]).total_seconds() for t in starts]


def _row_starts(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return _decode(conn.execute(sa.select(RATE.c.second_starts)).scalar_one())


def _workers(rate: float, lateness: list[float], askers: int = 1) -> list[float]:
    """Start times (s) reserved by ``askers`` workers at ``rate``/s on a simulated clock.

    Each asks for its next start as soon as its last one has come (a worker's dispatcher
    hands out the next message at once); when it had to wait for that start, it wakes the
    next of ``lateness`` after it, as on a loaded machine.
    """
    limits = buckets(rate, None, None)
    state: dict[str, object] = {}
    asks = [0.0] * askers
    out = []
    for late in lateness:
        i = min(range(askers), key=asks.__getitem__)
        now = asks[i]
        start = (reserve(_ORIGIN + timedelta(seconds=now), state, limits) - _ORIGIN).total_seconds()
        out.append(start)
        asks[i] = start + late if start > now else now
    return sorted(out)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.sampled_from([50.0, 7.0, 2.5, 0.5]),
    askers=st.integers(1, 4),
    lateness=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=300),
)
def test_catching_up_never_puts_more_than_the_limit_into_a_window(
    rate: float, askers: int, lateness: list[float]
) -> None:
    # at most n starts in any n / rate seconds, n the rate rounded down (at least 1), as for
    # RateLimiter: 50 in any second at 50/s, however late and irregular the askers are
    n = max(1, int(rate))
    starts = _workers(rate, lateness, askers)
    assert most_within(starts, n / rate) <= n


@settings(max_examples=80, deadline=None)
@given(
    askers=st.integers(1, 4),
    lateness=st.lists(st.floats(0.0, 0.06), min_size=2, max_size=300),
)
def test_workers_late_for_their_slots_keep_the_pace(askers: int, lateness: list[float]) -> None:
    # At 50/s (a slot every 20 ms), workers that wake up to 60 ms late: every start takes
    # its slot, k / 50 s after the first, or catches it up at most CATCH_UP later, so over
    # the run the count is the rate times the duration (less what the last ones caught up).
    # Before, a worker late for its slot lost it, and each lost slot delayed all later ones.
    starts = _workers(50.0, lateness, askers)
    for k, start in enumerate(starts):
        assert k / 50 - 1e-6 <= start <= k / 50 + CATCH_UP + 1e-6, (k, start)
    duration = starts[-1] - starts[0]
    assert len(starts) - 1 <= 50 * duration + 1e-6 <= len(starts) - 1 + 50 * CATCH_UP


@pytest.mark.parametrize(("late", "askers"), [(0.030, 1), (0.050, 1), (0.045, 3)])
def test_a_late_worker_keeps_the_rate_where_it_lost_slots_before(late: float, askers: int) -> None:
    # Woken 30-50 ms after each reserved start at 50/s: before, every reservation asked for
    # after its slot started a new schedule there (33/s, 20/s); now 500 starts take 10 s.
    starts = _workers(50.0, [late] * 500, askers)
    assert starts[-1] - starts[0] <= 499 / 50 + CATCH_UP
    assert most_within(starts, 1.0) <= 50


def test_an_idle_worker_catches_up_one_reach_and_no_more() -> None:
    # the same rule as RateLimiter: back after a minute, of the 600 slots it missed at 10/s
    # it takes one (CATCH_UP), not a burst
    limits = buckets(10.0, None, None)
    state: dict[str, object] = {}
    first = [reserve(_ORIGIN, state, limits) for _ in range(3)]
    back = _ORIGIN + timedelta(seconds=60)
    later = [reserve(back, state, limits) for _ in range(6)]
    assert _seconds(first + later) == pytest.approx([0, 0.1, 0.2, 60, 60, 60.1, 60.2, 60.3, 60.4])


def test_a_late_worker_keeps_the_pace_through_the_database_row(db: Database) -> None:
    # A worker at 50/s that wakes 60 ms after every start it waited for, reserving through
    # the real send_rate row and the database's clock. Before, a reservation asked for after
    # its slot lost it: two starts per 80 ms, 60 starts in 59 × 40 ms = 2.36 s (25/s). Now
    # they take 59 × 20 ms (+ at most CATCH_UP); the bound leaves room for a loaded
    # machine's later wake-ups.
    pacer = SharedRate(db.engine, "smtp 127.0.0.1:25", buckets(50.0, None, None))
    starts: list[datetime] = []
    try:
        for _ in range(60):
            start, now = pacer.take()
            starts.append(start)
            if start > now:
                time.sleep((start - now).total_seconds() + 0.060)
    finally:
        pacer.close()
    times = _seconds(starts)
    assert times == sorted(times)
    assert times[-1] <= 59 * 0.020 + CATCH_UP + 0.4, times
    assert most_within(times, 1.0) <= 50
    # the row remembers the last 50 starts, as many as a second may hold
    assert _row_starts(db) == [_us(t) for t in starts][-50:]
