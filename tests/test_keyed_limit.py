"""The per-client sign-up limit is a sliding window over a client's own hits.

A client that signed up at 0 s and 30 s with a limit of two an hour may sign
up again once the first hit is an hour old, not an hour after its last one.
"""

from __future__ import annotations

from newsletter.ratelimit import KeyedLimiter


def test_a_client_may_hit_again_once_its_oldest_hit_left_the_window() -> None:
    limit = KeyedLimiter(2, 3600.0)
    assert [limit.hit("192.0.2.7", t) for t in (0.0, 1800.0)] == [True, True]
    assert not limit.hit("192.0.2.7", 3599.0)  # two in the last hour: refused
    assert limit.hit("192.0.2.7", 3600.0)  # the hit at 0 s has left the window
    assert not limit.hit("192.0.2.7", 3601.0)  # 1800 s and 3600 s are in it now
    assert limit.hit("192.0.2.7", 5400.0)
