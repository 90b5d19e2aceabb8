"""The worker's daily round: remind the unconfirmed once, expire those unconfirmed too long.

``newsletter worker`` calls :func:`daily` on every poll; it does the work
when the last round (by any worker, on any host) is a day old. The time of
the last round is kept in ``newsletter_meta`` and taken with a conditional
update, so with several workers on one database exactly one does each
round, and a restarted worker does not start a second one the same day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from newsletter.campaigns.invitations import remind
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.columns import utcnow
from newsletter.subscribers.expiry import expire
from newsletter.subscribers.tables import Meta

LAST_ROUND = "expiry_round_at"
EVERY = timedelta(days=1)


def expire_and_remind(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> tuple[int, Counter[str]]:
    """Queue the due reminders, then delete the expired; (reminders queued, deleted per list).

    Reminders first: someone whose reminder is due is never also expired in
    the same round, as a list's expiry comes long after its reminder.
    """
    with db.session() as s:
        reminded = remind(s, settings, now=now)
    with db.session() as s:
        deleted = expire(s, now=now)
    return reminded, deleted


def _take_round(db: Database, now: datetime) -> bool:
    """Whether this process does today's round (the last one is a day old, and we won it)."""
    meta = Meta.__table__  # type: ignore[attr-defined]
    with db.engine.begin() as connection:
        last = connection.execute(
            sa.select(meta.c.value).where(meta.c.key == LAST_ROUND)
        ).scalar_one_or_none()
        if last is None:
            try:
                with connection.begin_nested():
                    row = {"key": LAST_ROUND, "value": now.isoformat()}
                    connection.execute(sa.insert(meta).values(**row))
            except sa.exc.IntegrityError:
                return False  # another worker took the first round
            return True
        if datetime.fromisoformat(last) > now - EVERY:
            return False
        return bool(
            connection.execute(
                sa.update(meta)
                .where(meta.c.key == LAST_ROUND, meta.c.value == last)
                .values(value=now.isoformat())
            ).rowcount
        )


def daily(
    db: Database,
    settings: Settings,
    send: Callable[[], object],
    on_event: Callable[[str], None],
    *,
    now: datetime | None = None,
) -> bool:
    """Do the day's round if it is due and ours: queue, delete, then ``send`` the mails."""
    now = now or utcnow()
    if not _take_round(db, now):
        return False
    reminded, deleted = expire_and_remind(db, settings, now=now)
    gone = sum(deleted.values())
    on_event(f"daily round: {reminded} reminder(s) queued, {gone} unconfirmed deleted")
    send()
    return True
