"""The shared send rate: GCRA token buckets, checked on a simulated clock and on the database.

The worker tests measure the rate at a real SMTP server; these check the
arithmetic exactly (any window, any limit) and that reservations from many
connections at once are serialised by the database row.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from window_helpers import most_within

from newsletter.db import Database
from newsletter.workers.pacing import SharedRate, buckets, reserve


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
    # 100 reservations from 4 connections at once: every one 5 ms after the one before
    ordered = sorted(starts)
    assert len(ordered) == 100
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    assert min(gaps) == pytest.approx(0.005, abs=1e-6)
