"""Waiting out a database that another process holds locked.

SQLite lets one writer at a time: a backup, a long import or a second
sender holding the write lock makes every other write wait. Every
connection waits ``BUSY_TIMEOUT_MS`` on its own (the engine sets it); code
that must survive longer locks, the sender above all, runs its transaction
through :func:`retry_locked`, which starts it again after a rollback with
growing pauses and gives up with one clear :class:`DatabaseLocked` error.
PostgreSQL's lock-timeout, deadlock and serialisation errors count the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from newsletter.errors import OperationFailed
from newsletter.lightdb import BUSY_TIMEOUT_MS  # there, for readers without SQLAlchemy

__all__ = ["BUSY_TIMEOUT_MS", "DatabaseLocked", "is_locked", "retry_locked"]

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
            if not is_locked(exc):
                raise
            waited = time.monotonic() - started
            if waited >= limit:
                raise DatabaseLocked(waited) from exc
            if on_wait is not None:
                on_wait(waited)
            time.sleep(min(delay, limit - waited))
            delay = min(delay * 2, 1.0)
