"""What every worker on every host shares about one relay: its send rate and its connections.

The rate is kept in one row of ``send_rate`` per relay, one set of columns per
configured window (``[delivery] rate_per_second/minute/hour``). A sender
reserves the start of its next message with one short transaction that locks
the row, so reservations from any number of processes are serialised by the
database and timed by its clock (no two hosts need agree on the time).

A per-second limit follows the rule of this process's
:class:`newsletter.ratelimit.RateLimiter` (the same functions): evenly spaced
slots, where a sender that asks late (it woke late, or the machine is loaded)
takes the earliest free slot it missed, up to :data:`~newsletter.ratelimit.CATCH_UP`
(or one spacing, if longer) back, so lateness does not add up and the rate
holds; the last ``n`` reserved starts are kept in the row, so catching up
never puts more than ``n`` starts into any ``n / rate`` seconds (``n`` the
limit rounded down, at least 1: 50 in any second at 50/s). The guarantee is
on the reserved starts, by the database's clock; a worker that wakes late
starts its message later than its reservation, never earlier.

A per-minute or per-hour limit is a GCRA token bucket holding a twentieth of
its limit, so any such window sees at most 5 % more than the limit, and over a
run the rate is exactly the limit; a late sender catches up by that burst.

Connections are PostgreSQL advisory locks, one per slot of ``[smtp]
max_connections``, held by one session per worker process. A worker that
dies loses its session, and the server frees its slots with it (at once on a
kill; after the TCP keepalives below for a lost host).
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.ratelimit import (
    CATCH_UP,
    catch_up_reach,
    earliest_start,
    slot_taken,
    spacing_window,
)
from newsletter.workers.tables import SendRate

RATE = SendRate.__table__  # type: ignore[attr-defined]
# The server drops the session of a host that stopped answering after about
# idle + interval × count seconds, and with it the host's connection slots.
_KEEPALIVE = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5")
_KEEPALIVE_COUNT = "SET tcp_keepalives_count = 3"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Bucket:
    """A per-minute or per-hour limit: a message every ``interval`` s, up to ``burst`` at
    once (GCRA)."""

    column: str
    interval: float
    burst: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def tolerance(self) -> timedelta:
        return timedelta(seconds=(self.burst - 1) * self.interval)


@dataclass(frozen=True)
class Spacing:
    """A per-second limit, in integer microseconds (exact on every backend): a slot every
    ``spacing``, caught up ``reach`` back, at most ``allowed`` starts in any ``window``.

    ``second_tat`` holds the next free slot, ``second_starts`` the last ``allowed``
    reserved starts (see :func:`_encode`).
    """

    spacing: int
    window: int
    allowed: int
    reach: int
    columns = ("second_tat", "second_starts")

    @classmethod
    def per_second(cls, rate: float) -> Spacing:
        # rounded up: a microsecond late, never early
        window, allowed = spacing_window(rate)
        spacing = math.ceil(1_000_000 / rate)
        reach = catch_up_reach(spacing, round(CATCH_UP * 1_000_000))
        return cls(spacing, math.ceil(window * 1_000_000), allowed, reach)


Limit = Bucket | Spacing


def buckets(
    per_second: float | None, per_minute: int | None, per_hour: int | None
) -> tuple[Limit, ...]:
    """The limits of the configured rates; none when sending is unlimited."""
    found: list[Limit] = []
    if per_second:
        found.append(Spacing.per_second(per_second))
    for column, window, allowed in (
        ("minute_tat", 60.0, per_minute),
        ("hour_tat", 3600.0, per_hour),
    ):
        if allowed:
            # a burst of a twentieth of the limit
            found.append(Bucket(column, window / allowed, max(1, int(allowed // 20))))
    return tuple(found)


def reserve(now: datetime, state: dict[str, Any], limits: tuple[Limit, ...]) -> datetime:
    """The start of the next message, updating ``state`` (the row's columns).

    It may start once every limit has room; it then takes one interval of each
    bucket, and the earliest free slot of the per-second schedule (one it was
    late for, within the catch-up).
    """
    start = now
    for b in limits:
        if isinstance(b, Bucket):
            tat = state.get(b.column)
            if tat is not None and tat - b.tolerance > start:
                start = tat - b.tolerance
    at = _us(start)
    for sp in limits:
        if isinstance(sp, Spacing):
            tat = state.get("second_tat")
            at = earliest_start(
                at,
                None if tat is None else _us(tat),
                _decode(state.get("second_starts")),
                [(sp.window, sp.allowed)],
            )
    start = _EPOCH + at * _US
    for lim in limits:
        if isinstance(lim, Bucket):
            tat = state.get(lim.column)
            base = start if tat is None or tat < start else tat
            state[lim.column] = base + timedelta(seconds=lim.interval)
        else:
            tat = state.get("second_tat")
            slot = slot_taken(None if tat is None else _us(tat), at, lim.reach)
            state["second_tat"] = _EPOCH + (slot + lim.spacing) * _US
            starts = [*_decode(state.get("second_starts")), at]
            state["second_starts"] = _encode(starts[-lim.allowed :])
    return start


def _us(when: datetime) -> int:
    return (when - _EPOCH) // _US


def _encode(starts: list[int]) -> str:
    """The first start in microseconds since 1970, then each one's distance from the one
    before (short: at 50/s a few hundred bytes for the 50 starts a second may hold)."""
    return ",".join(str(t - prev) for prev, t in zip([0, *starts], starts, strict=False))


def _decode(text: str | None) -> list[int]:
    starts: list[int] = []
    for part in (text or "").split(","):
        if part:
            starts.append(int(part) + (starts[-1] if starts else 0))
    return starts


class SharedRate:
    """A rate limit kept in the database, for one relay and every sender of it.

    Has the interface of :class:`newsletter.ratelimit.RateLimiter` the
    dispatcher asks: :meth:`delay` reserves a start the first time it is
    asked and says how long until then; :meth:`record` spends it.
    """

    def __init__(self, engine: sa.Engine, name: str, limits: tuple[Limit, ...]):
        self.engine = engine
        self.name = name[:255]
        self.limits = limits
        self._conn: sa.Connection | None = None
        self._start: float | None = None  # monotonic time of the reserved start

    @property
    def limited(self) -> bool:
        return bool(self.limits)

    def delay(self, now: float) -> float:
        if self._start is None:
            start, db_now = self.take()
            self._start = time.monotonic() + (start - db_now).total_seconds()
        return max(0.0, self._start - time.monotonic())

    def record(self, now: float) -> None:
        self._start = None

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
            self._conn.execute(_insert_missing(self._conn, self.name))
            self._conn.commit()
        return self._conn

    def take(self) -> tuple[datetime, datetime]:
        """Reserve the next start: one transaction that locks the row; (start, now) by
        the database's clock."""
        conn = self._connection()
        names = [column for limit in self.limits for column in limit.columns]
        columns = [RATE.c[name] for name in names]
        try:
            if conn.dialect.name == "sqlite":  # no FOR UPDATE: take the write lock first
                conn.execute(sa.update(RATE).where(RATE.c.name == self.name).values(name=self.name))
            row = conn.execute(
                sa.select(*columns, _clock(conn)).where(RATE.c.name == self.name).with_for_update()
            ).one()
            now = _aware(row[-1])
            state = {name: row[i] for i, name in enumerate(names)}
            start = reserve(now, state, self.limits)
            conn.execute(sa.update(RATE).where(RATE.c.name == self.name).values(**state))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return start, now

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _insert_missing(conn: sa.Connection, name: str) -> sa.Insert:
    """The bucket row, unless some worker made it already."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(RATE).values(name=name).on_conflict_do_nothing(index_elements=["name"])


def _clock(conn: sa.Connection) -> sa.ColumnElement[datetime]:
    """The database's clock, the one clock every host shares."""
    if conn.dialect.name == "postgresql":
        return sa.func.clock_timestamp()
    return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now")


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def relay_name(host: str, port: int) -> str:
    """The key of a relay in ``send_rate`` and for its connection slots."""
    return f"smtp {host}:{port}"


class RelaySlots:
    """Up to ``total`` connections to one relay from all workers together (advisory locks).

    One database session per worker process holds the slots its batches
    took; ``acquire`` takes up to the number a batch asks for, ``release``
    gives them back. Without a total every request is granted in full.
    """

    def __init__(self, engine: sa.Engine, relay: str, total: int | None):
        self.total = total
        # advisory locks are keyed by two int4: the relay, and the slot number
        self.key = zlib.crc32(relay.encode("utf-8")) & 0x7FFFFFFF
        self.held: set[int] = set()
        self.lock = threading.Lock()
        self._conn: sa.Connection | None = None
        self.engine = engine

    @property
    def limited(self) -> bool:
        return self.total is not None and self.engine.dialect.name == "postgresql"

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
            for statement in (*_KEEPALIVE, _KEEPALIVE_COUNT):
                self._conn.exec_driver_sql(statement)
            self._conn.commit()
        return self._conn

    def acquire(self, want: int) -> list[int]:
        """Slot numbers for up to ``want`` connections; empty while all are taken."""
        if not self.limited:
            return list(range(want))
        assert self.total is not None
        with self.lock:
            conn = self._connection()
            taken = conn.execute(
                sa.text(
                    "SELECT s FROM generate_series(0, :last) AS s "
                    "WHERE NOT (s = ANY(CAST(:held AS integer[]))) "
                    "AND pg_try_advisory_lock(:key, s) LIMIT :want"
                ),
                {"last": self.total - 1, "held": sorted(self.held), "key": self.key, "want": want},
            ).scalars()
            got = list(taken)
            conn.commit()
            self.held.update(got)
        return got

    def release(self, slots: list[int]) -> None:
        if not self.limited or not slots:
            return
        with self.lock:
            conn = self._connection()
            for slot in slots:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:key, :slot)"),
                    {"key": self.key, "slot": slot},
                )
                self.held.discard(slot)
            conn.commit()

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()  # the session ends, and its slots with it
                self._conn = None
                self.held.clear()
