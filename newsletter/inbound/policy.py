"""What a classified message does: Mailman 3's bounce policy, and complaints.

A hard bounce suppresses at once. A soft bounce adds ``soft_bounce_score``
(0.5) to a score, at most once per day; the score starts again from zero
after ``bounce_score_reset_days`` (7) without a bounce, and the address is
suppressed when it reaches ``bounce_score_threshold`` (5). Send-time
failures already in the delivery log count towards the same score.
Auto-replies, delay notices, challenges and blocks of our own message never
count. A complaint unsubscribes from every list and suppresses with reason
``complaint``. Every decision is a :class:`Bounce` row.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.campaigns.tables import Delivery, DeliveryStatus
from newsletter.config import Inbound as Policy
from newsletter.db import key_hash
from newsletter.db.columns import utcnow
from newsletter.errors import BadInput
from newsletter.inbound.attribute import Target, address_forms
from newsletter.inbound.classify import Classification
from newsletter.inbound.status import judge
from newsletter.inbound.tables import Bounce, Decision, Kind
from newsletter.inbound.unsubscribe import unsubscribe_with_token
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.people import unsubscribe
from newsletter.subscribers.suppressions import suppress, suppression_for
from newsletter.subscribers.tables import Reason

ACTOR = "inbound"


def score_of(days: Iterable[datetime], now: datetime, policy: Policy) -> float:
    """The soft-bounce score after bounces at ``days`` (any order), seen at ``now``."""
    reset = timedelta(days=policy.bounce_score_reset_days)
    score, last = 0.0, None
    for at in sorted(days):
        if last is not None and at - last > reset:
            score = 0.0
        if last is None or at.date() != last.date() or score == 0.0:
            score += policy.soft_bounce_score
        last = at
    if last is None or now - last > reset:
        return 0.0
    return score


def _address_hash(session: Session, address: str | None) -> str | None:
    if not address:
        return None
    try:
        return key_hash(session, parse_address(address).key)
    except BadInput:
        return None


def bounce_score(
    session: Session, address: str, h: str, policy: Policy, now: datetime | None = None
) -> float:
    """The current score of ``address``: our recorded soft bounces and send-time failures.

    Everything at or before the last ``bounces undo`` of the address is
    forgiven, so an undone suppression does not come straight back.
    """
    now = now or utcnow()
    floor = session.exec(select(sa.func.max(Bounce.undone_at)).where(Bounce.key_hash == h)).one()
    since = max(floor, now - timedelta(days=90)) if floor else now - timedelta(days=90)
    days = list(
        session.exec(
            select(Bounce.received_at).where(
                Bounce.key_hash == h,
                Bounce.scored == True,  # noqa: E712  (SQL, not Python truth)
                Bounce.undone_at.is_(None),  # type: ignore[union-attr]
                Bounce.received_at > since,
            )
        )
    )
    failed = session.exec(
        select(Delivery.finished_at, Delivery.smtp_reply).where(
            sa.func.lower(Delivery.address).in_(address_forms(address)),
            Delivery.status == DeliveryStatus.FAILED.value,
            Delivery.finished_at > since,  # type: ignore[operator]
        )
    ).all()
    for finished, reply in failed:
        if finished is not None and judge(None, reply, permanent=True).scored:
            days.append(finished)
    return score_of(days, now, policy)


def record(
    session: Session,
    c: Classification,
    target: Target,
    raw: bytes | None,
    source: str,
    policy: Policy,
) -> Bounce:
    """Store ``c`` as a bounce row about ``target`` and apply the policy; flushes, never commits."""
    h = _address_hash(session, target.address)
    row = Bounce(
        source=source[:1000],
        kind=c.kind,
        address=target.address,
        key_hash=h,
        subscriber_id=target.subscriber_id,
        delivery_id=target.delivery_id,
        campaign_id=target.campaign_id,
        attribution=target.how,
        status=(c.status or "")[:16] or None,
        diagnostic=c.diagnostic,
        reasons="\n".join(c.reasons) or None,
        scored=False,
        decision=Decision.RECORDED.value,
        message_id=(c.message_id or "")[:998] or None,
        content_hash=c.content_hash,
        raw=zlib.compress(raw, 6) if raw is not None else None,
    )
    session.add(row)
    session.flush()
    if h is None and c.kind != Kind.UNSUBSCRIBE:
        return row
    origin = f"bounce:{row.id}"
    if c.kind == Kind.HARD and policy.suppress_hard_bounces:
        _suppress(session, row, Reason.BOUNCED, f"hard bounce {row.status or ''}".strip(), origin)
    elif c.kind in (Kind.HARD, Kind.SOFT) and c.scored:
        row.scored = True
        session.flush()
        assert target.address is not None and h is not None
        row.score = bounce_score(session, target.address, h, policy)
        row.decision = Decision.SCORED.value
        if row.score >= policy.bounce_score_threshold:
            _suppress(session, row, Reason.BOUNCED, f"bounce score {row.score:g}", origin)
    elif c.kind == Kind.COMPLAINT:
        assert target.address is not None
        _suppress(session, row, Reason.COMPLAINT, "complaint (feedback loop)", origin)
        unsubscribe(session, target.address, None, source=origin, actor=ACTOR, detail="complaint")
    elif c.kind == Kind.UNSUBSCRIBE and c.evidence.unsubscribe is not None:
        changed = unsubscribe_with_token(session, *c.evidence.unsubscribe, source="mailto")
        if changed:
            row.decision = Decision.UNSUBSCRIBED.value
    session.add(row)
    session.flush()
    return row


def _suppress(session: Session, row: Bounce, reason: Reason, detail: str, origin: str) -> None:
    assert row.address is not None
    if suppression_for(session, row.address) is not None:
        row.reasons = (row.reasons or "") + "\naddress was already suppressed"
        return
    suppress(session, row.address, reason, detail=detail, source=origin, actor=ACTOR)
    row.decision = Decision.SUPPRESSED.value
