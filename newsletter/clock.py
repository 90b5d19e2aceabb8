"""The clock schedules go by: the system's, or the system's moved ahead for a rehearsal.

A local-time schedule spans a day (Beijing's 09:00 is Berlin's 02:00), so
neither a rehearsal nor a test can wait for it. When
``NEWSLETTER_CLOCK_SHIFT_FILE`` names a file, its content (seconds, may be
fractional) is added to the system clock wherever a schedule asks "is it
time?": which waves are due, which queued messages may leave, which zones'
local time has passed. It is read at every call, so whoever owns the file
moves time forward for running workers. Timestamps in the log stay the
system's. procrastinate's ``scheduled_at`` is compared with the database
server's clock, so job times go through :func:`to_system`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

SHIFT_FILE = "NEWSLETTER_CLOCK_SHIFT_FILE"


def shift() -> timedelta:
    """How far this clock is ahead of the system's (zero unless the file says otherwise)."""
    name = os.environ.get(SHIFT_FILE)
    if not name:
        return timedelta(0)
    try:
        return timedelta(seconds=float(Path(name).read_text(encoding="utf-8").strip() or 0))
    except (OSError, ValueError):  # being rewritten: the system clock for this one look
        return timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + shift()


def to_system(at: datetime) -> datetime:
    """``at`` on this clock as the system's (and the database's) time."""
    return at - shift()
