"""Rate limits: sliding windows, said out loud while waiting, kept across resumes."""

from __future__ import annotations

import time

from delivery_helpers import World
from smtp_server import RecordingServer

from newsletter.campaigns import store
from newsletter.campaigns.sender import Progress, run_campaign
from newsletter.ratelimit import RateLimiter
from newsletter.transports.smtp import SmtpTransport


def _times(limiter: RateLimiter, n: int, start: float = 0.0) -> list[float]:
    out, now = [], start
    for _ in range(n):
        now += limiter.delay(now)
        limiter.record(now)
        out.append(now)
    return out


def test_per_minute_is_a_sliding_window() -> None:
    assert _times(RateLimiter(per_minute=3), 7) == [0, 0, 0, 60, 60, 60, 120]


def test_per_second_spaces_sends_evenly_even_below_one() -> None:
    assert _times(RateLimiter(per_second=4), 3) == [0, 0.25, 0.5]
    assert _times(RateLimiter(per_second=0.5), 3) == [0, 2, 4]


def test_the_strictest_window_wins_and_history_counts() -> None:
    limiter = RateLimiter(per_second=10, per_hour=2, history=[100.0])
    assert _times(limiter, 2, start=110.0) == [110.0, 3700.0]
    assert limiter.describe() == "10/second, 2/hour"


def test_limit_holds_across_runs_and_a_pause_stops_the_wait(world: World) -> None:
    world.configure(rate_per_minute=3)
    world.add(3)
    first = world.campaign()
    waits: list[float] = []

    def watch(p: Progress) -> None:
        if p.waiting == "rate limit" and not waits:
            waits.append(p.wait_seconds or 0)
            with world.db.session() as s:
                store.pause_campaign(s, p.campaign_id)

    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port)
        run_campaign(world.db, world.settings, first, transport)
        world.add(2, prefix="late")
        second = world.campaign(again=True)
        started = time.monotonic()
        result = run_campaign(world.db, world.settings, second, transport, on_progress=watch)
    # the three sends of the first run still count against this minute
    assert waits and waits[0] > 55
    assert time.monotonic() - started < 5
    assert result.stopped and world.state(second) == "paused"
    assert world.counts(second) == {"queued": 5}
    assert len(srv.messages) == 3


def test_rate_limit_waits_visibly_and_survives_a_new_run(world: World) -> None:
    world.configure(rate_per_second=4.0)
    world.add(3)
    cid = world.campaign()
    seen: list[Progress] = []
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port)
        started = time.monotonic()
        run_campaign(world.db, world.settings, cid, transport, on_progress=seen.append)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.5 - 0.05  # three sends at 4/s need two gaps of 0.25 s
    waits = [p for p in seen if p.waiting == "rate limit"]
    assert waits and all(p.wait_seconds is not None and p.wait_seconds <= 0.25 for p in waits)
    assert seen[-1].done == 3 and seen[-1].waiting is None


def test_seeding_reads_only_as_many_starts_as_the_largest_limit() -> None:
    limiter = RateLimiter(per_second=2, per_minute=30)
    assert limiter.depth == 30
    recent = RateLimiter(per_second=2, per_minute=30, history=[float(t) for t in range(70, 100)])
    for t in range(100):
        limiter.record(float(t))
    # the 30 newest starts decide; older ones change nothing
    assert limiter.delay(100.0) == recent.delay(100.0) == 30.0
    assert RateLimiter().depth == 0 and not RateLimiter().limited


def test_a_keyed_limit_counts_each_key_in_its_own_window() -> None:
    from newsletter.ratelimit import KeyedLimiter

    limit = KeyedLimiter(2, 60.0, max_keys=100)
    assert [limit.hit("a", t) for t in (0, 1, 2)] == [True, True, False]
    assert limit.hit("b", 2)  # another client is not held back
    assert limit.hit("a", 61)  # the first hit left the window
    for i in range(500):  # a flood of keys stays bounded
        limit.hit(f"k{i}", 3)
    assert len(limit._events) <= 100
