"""Expiry: people who never confirmed are deleted after their list's ``expire_after_days``.

Data minimisation (GDPR Art. 5(1)(c)): an address imported or signed up
for a double opt-in list that was never confirmed serves no purpose once
the invitation and its one reminder went unanswered. So an ``unconfirmed``
subscription older than its list's ``expire_after_days`` is deleted, and
with it the person when they have no other list; their address leaves the
consent log, the sign-ups and the delivery log too (:func:`gdpr.erase`).

One consent-log entry per deletion records that it happened and why, by
the address's keyed hash only. No hashed suppression is added, unlike
``forget``: these people never consented *or* objected, so a later sign-up
of theirs is welcome.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.db.columns import utcnow
from newsletter.subscribers import audit, gdpr
from newsletter.subscribers.status import Status
from newsletter.subscribers.tables import MailingList, Signup, Subscriber, Subscription

ACTOR = "expiry"


def expire(session: Session, *, now: datetime | None = None) -> Counter[str]:
    """Delete the unconfirmed past their list's expiry; how many per list slug."""
    now = now or utcnow()
    sn, sub = Subscription.__table__.c, Subscriber.__table__.c  # type: ignore[attr-defined]
    deleted: Counter[str] = Counter()
    for ml in session.execute(sa.select(MailingList)).scalars().all():
        if ml.expire_after_days <= 0:
            continue
        cutoff = now - timedelta(days=ml.expire_after_days)
        rows = session.execute(
            sa.select(sub.id, sub.key, sub.email)
            .join(Subscription.__table__, sn.subscriber_id == sub.id)  # type: ignore[attr-defined]
            .where(sn.list_id == ml.id, sn.status == Status.UNCONFIRMED.value)
            .where(sn.created_at < cutoff)
            .order_by(sub.id)
        ).all()
        for subscriber_id, key, email in rows:
            _expire_one(session, ml, subscriber_id, key, email)
            deleted[ml.slug] += 1
        # Sign-ups (form or invitation) are purged when their link expires;
        # this catches those of a list whose expiry is shorter than that.
        session.execute(
            sa.delete(Signup).where(
                Signup.list_id == ml.id,
                Signup.confirmed_at.is_(None),  # type: ignore[union-attr]
                Signup.created_at < cutoff,  # type: ignore[arg-type]
            )
        )
    session.flush()
    return deleted


def _expire_one(
    session: Session, ml: MailingList, subscriber_id: int, key: str, email: str
) -> None:
    detail = (
        f"unconfirmed for more than {ml.expire_after_days} days: deleted (data minimisation; "
        "no suppression, they never consented)"
    )
    others = session.execute(
        sa.select(sa.func.count()).where(
            Subscription.subscriber_id == subscriber_id,  # type: ignore[arg-type]
            Subscription.list_id != ml.id,  # type: ignore[arg-type]
        )
    ).scalar_one()
    if others:
        session.execute(
            sa.delete(Subscription).where(
                Subscription.subscriber_id == subscriber_id,  # type: ignore[arg-type]
                Subscription.list_id == ml.id,  # type: ignore[arg-type]
            )
        )
        audit.record(session, "expire", key, source=ACTOR, subscriber_id=subscriber_id,
                     list_slug=ml.slug, actor=ACTOR, detail=detail)  # fmt: skip
        return
    gdpr.erase(session, gdpr.find_person(session, email))
    event = audit.record(
        session, "expire", key, source=ACTOR, list_slug=ml.slug, actor=ACTOR, detail=detail
    )
    event.subject = None
