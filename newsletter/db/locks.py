"""Waiting out a database that another process holds locked.

SQLite lets one writer at a time: a backup, a long import or a second
sender holding the write lock makes every other write wait. Every
connection waits ``BUSY_TIMEOUT_MS`` on its own (the engine sets it); code
that must survive longer locks, the sender above all, runs its transaction
through :func:`retry_locked`, which starts it again after a rollback with
growing pauses and gives up with one clear :class:`DatabaseLocked` error.
PostgreSQL's lock-timeout, deadlock and serialisation errors count the same,
and so does a database server that cannot be reached (restarted, a network
outage): the transaction runs again on a new connection once it is back,
and after the same wait :class:`DatabaseUnreachable` says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from newsletter.errors import OperationFailed
from newsletter.lightdb import BUSY_TIMEOUT_MS  # there, for readers without SQLAlchemy

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DatabaseLocked",
    "DatabaseUnreachable",
    "is_locked",
    "is_unreachable",
    "retry_locked",
]

T = TypeVar("T")

# lock_not_available, serialization_failure, deadlock_detected
_PG_TRANSIENT = {"55P03", "40001", "40P01"}


class DatabaseLocked(OperationFailed):
    """Another process kept the database locked for longer than we may wait."""

    def __init__(self, waited: float):
        self.waited = waited
        super().__init__(
            f"the database stayed locked by another process for {waited:.0f} s "
            "(a backup, a long import or another sender?)"
        )


class DatabaseUnreachable(DatabaseLocked):
    """The database server stayed out of reach for longer than we may wait.

    A kind of :class:`DatabaseLocked`: whoever waits out a lock waits this out the same way,
    and stops the same way when it lasts too long.
    """

    def __init__(self, waited: float):
        self.waited = waited
        OperationFailed.__init__(self, f"the database could not be reached for {waited:.0f} s")


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection to the database server broke or could not be made."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    # psycopg raises OperationalError for a refused or broken connection; SQLite's are locks
    # or a broken file, which waiting does not mend
    return isinstance(exc, sa.exc.OperationalError) and type(exc.orig).__module__.startswith(
        "psycopg"
    )


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is locked (worth waiting for), not broken."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in _PG_TRANSIENT:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database table is locked" in message


def retry_locked(
    attempt: Callable[[], T],
    *,
    limit: float,
    on_wait: Callable[[float], None] | None = None,
) -> T:
    """Run ``attempt`` (one whole transaction) until it gets through a lock.

    ``attempt`` must roll back what it did when it raises, so running it
    again is safe. Waits with exponential backoff up to ``limit`` seconds in
    all, calling ``on_wait(seconds waited)`` before each pause.
    """
    started = time.monotonic()
    delay = 0.05
    while True:
        try:
            return attempt()
        except sa.exc.DBAPIError as exc:
            unreachable = is_unreachable(exc)
            if not (unreachable or is_locked(exc)):
                raise
            waited = time.monotonic() - started
            if waited >= limit:
                if unreachable:
                    raise DatabaseUnreachable(waited) from exc
                raise DatabaseLocked(waited) from exc
            if on_wait is not None:
                on_wait(waited)
            time.sleep(min(delay, limit - waited))
            delay = min(delay * 2, 1.0)
