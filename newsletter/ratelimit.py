"""Sliding-window send limits: per second, per minute, per hour.

Relays and shared hosts cap how much a sender may submit ("500 per hour").
The limiter remembers when recent sends started; seeded from the delivery
log, it honours the limits across pauses, resumes and crashes, not just
within one run. Memory is bounded by the largest limit, not by the campaign.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

# How far behind its schedule of slots a per-second rate may run and catch up. Wider than
# the wake-up latency of a loaded machine, narrow enough that catching up is a short burst.
CATCH_UP = 0.1

# The per-second rule below is written once, for this process's RateLimiter (seconds as
# floats) and for the workers' shared pacer (integer microseconds of the database's clock,
# newsletter.workers.pacing): the two must keep the same pace and the same bound.
T = TypeVar("T", int, float)


def spacing_window(per_second: float) -> tuple[float, int]:
    """The window a per-second limit is counted over, and the starts allowed in it: ``n``
    starts in ``n / per_second`` seconds, ``n`` the limit rounded down (at least 1)."""
    n = max(1, int(per_second))
    return n / per_second, n


def catch_up_reach(spacing: T, catch_up: T) -> T:
    """How far back a late start may take a missed slot: ``catch_up`` (:data:`CATCH_UP`),
    or one spacing when that is longer (a slow rate still takes the one slot it was late
    for)."""
    return max(catch_up, spacing)


def earliest_start(
    now: T,
    next_slot: T | None,
    starts: Sequence[T],
    windows: Iterable[tuple[T, int]],
) -> T:
    """The earliest a send may start, at ``now`` or later: not before the next free slot
    of the schedule, and never as the ``allowed + 1``-th start of any window (``starts``
    are the recent real starts, oldest first)."""
    at = now if next_slot is None or next_slot < now else next_slot
    for window, allowed in windows:
        if len(starts) >= allowed:
            at = max(at, starts[-allowed] + window)
    return at


def slot_taken(next_slot: T | None, start: T, reach: T) -> T:
    """The slot a send starting at ``start`` takes: the next free one, even when the send
    is late for it, so lateness does not add up; a send later than ``reach`` (an idle
    sender) restarts the schedule ``reach`` before it, so it catches up that much, no more."""
    if next_slot is None:
        return start
    return max(next_slot, start - reach)


class Pacer(Protocol):
    """What a sender asks of a rate limit: this process's :class:`RateLimiter`, or one
    shared by every worker through the database (``newsletter.workers.pacing``)."""

    @property
    def limited(self) -> bool: ...

    def delay(self, now: float) -> float: ...

    def record(self, now: float) -> None: ...


class RateLimiter:
    """Answers "how long until the next send may start?" for wall-clock times.

    A per-second rate is a schedule of evenly spaced slots. A send that starts late (the
    process was busy, or the machine loaded) takes the slot it was late for rather than
    losing it: the next slot stays one spacing after that slot, not after the late start,
    so lateness does not add up and the rate holds. How far behind the schedule may run is
    bounded (:data:`CATCH_UP`), and every window is also counted over the real starts, so
    catching up never puts more than the limit into any window: at most ``n`` starts in
    any ``n / rate`` seconds (``n`` the rate rounded down, at least 1), e.g. 50 in any
    second at 50/s.
    """

    def __init__(
        self,
        per_second: float | None = None,
        per_minute: int | None = None,
        per_hour: int | None = None,
        history: Iterable[float] = (),
    ):
        # (window seconds, sends allowed in it), counted over the real starts
        self.windows: list[tuple[float, int]] = []
        self.spacing: float | None = None
        if per_second:
            self.spacing = 1.0 / per_second
            self.windows.append(spacing_window(per_second))
        if per_minute:
            self.windows.append((60.0, per_minute))
        if per_hour:
            self.windows.append((3600.0, per_hour))
        depth = self.depth
        self._starts: deque[float] = deque(maxlen=depth)
        self._slot: float | None = None  # the slot the latest start took
        for start in sorted(history)[-depth:] if depth else ():
            self.record(start)

    @property
    def depth(self) -> int:
        """How many recent starts the limiter needs to remember: its largest limit."""
        return max((k for _, k in self.windows), default=0)

    @property
    def limited(self) -> bool:
        return bool(self.windows)

    def delay(self, now: float) -> float:
        """Seconds to wait before a send may start at ``now``; 0 when it may."""
        return earliest_start(now, self._next_slot, self._starts, self.windows) - now

    @property
    def _next_slot(self) -> float | None:
        if self.spacing is None or self._slot is None:
            return None
        return self._slot + self.spacing

    def record(self, now: float) -> None:
        """Note that a send started at ``now``: it takes the earliest slot it may."""
        if not self.windows:
            return
        self._starts.append(now)
        if self.spacing is not None:
            self._slot = slot_taken(self._next_slot, now, catch_up_reach(self.spacing, CATCH_UP))

    def describe(self) -> str:
        names = {1.0: "second", 60.0: "minute", 3600.0: "hour"}
        parts = []
        for window, allowed in self.windows:
            if allowed == 1 and window not in (60.0, 3600.0):
                parts.append(f"{1 / window:g}/second")
            else:
                parts.append(f"{allowed}/{names.get(window, f'{window:g}s')}")
        return ", ".join(parts) or "unlimited"


class KeyedLimiter:
    """At most ``allowed`` events per ``window`` seconds for each key (say a client address).

    Keeps at most ``max_keys`` keys; when more arrive, the longest idle ones
    are forgotten, so a flood of addresses cannot exhaust memory.
    """

    def __init__(self, allowed: int, window: float, *, max_keys: int = 10000):
        self.allowed = allowed
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> bool:
        """Record an event for ``key`` at ``now``; False when it is over the limit."""
        events = self._events.pop(key, None)
        if events is None:
            events = deque(maxlen=self.allowed)
            if len(self._events) >= self.max_keys:
                for old in list(self._events)[: self.max_keys // 10 or 1]:
                    del self._events[old]
        self._events[key] = events  # re-inserted: dict order is idle order
        if len(events) == self.allowed and now - events[0] < self.window:
            return False
        events.append(now)
        return True

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may have an event again (0: now), for a 429's Retry-After."""
        events = self._events.get(key)
        if not events or len(events) < self.allowed:
            return 0.0
        return max(0.0, events[0] + self.window - now)
