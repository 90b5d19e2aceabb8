"""What a classified message does: Mailman 3's bounce policy, and complaints.

A hard bounce suppresses at once. A soft bounce adds ``soft_bounce_score``
(0.5) to a score, at most once per day; the score starts again from zero
after ``bounce_score_reset_days`` (7) without a bounce, and the address is
suppressed when it reaches ``bounce_score_threshold`` (5). Send-time
failures already in the delivery log count towards the same score.
Auto-replies, delay notices, challenges and refusals of our own message
(the "ours" side of :mod:`newsletter.inbound.reasons`) never count. A
complaint unsubscribes from every list and suppresses with reason
``complaint``. Only authenticated evidence acts (see
:mod:`newsletter.inbound.attribute`): a bounce matched on its recipient or
List-Id alone is recorded with kind ``unverified`` and changes nothing,
unless ``[inbound] trust_recipient_only``; a complaint never acts on such
a match. Every decision is a :class:`Bounce` row.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
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
from newsletter.subscribers.tables import ConsentEvent, Reason, Subscriber, Suppression

ACTOR = "inbound"
# The kinds that change a subscription or a score: only on authenticated evidence.
ACTING = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)


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


@dataclass(frozen=True)
class Recorded:
    """The bounce row :func:`record` wrote, and what the policy decided."""

    id: int
    kind: str
    decision: str
    score: float | None


_BOUNCE = Bounce.__table__  # type: ignore[attr-defined]
# Built once: constructing a statement per row costs more than running it.
_INSERT = sa.insert(_BOUNCE).returning(_BOUNCE.c.id)
_UPDATE = sa.update(_BOUNCE).where(_BOUNCE.c.id == sa.bindparam("b_id"))


def record(
    session: Session,
    c: Classification,
    target: Target,
    raw: bytes | None,
    source: str,
    policy: Policy,
) -> Recorded:
    """Store ``c`` as a bounce row about ``target`` and apply the policy; never commits.

    Written with two Core statements rather than an ORM object: at thousands of
    bounces a run, building and flushing model instances was most of the cost.
    """
    h = _address_hash(session, target.address)
    reasons = list(c.reasons)
    kind = c.kind
    if not target.verified and c.kind in ACTING:
        if c.kind == Kind.COMPLAINT or not policy.trust_recipient_only:
            kind = Kind.UNVERIFIED
            reasons.append(
                f"{c.kind} by its content, but ours only by {target.how} (which anyone can "
                "write): recorded, nothing changed"
            )
        else:
            reasons.append(f"ours only by {target.how}: acted on ([inbound] trust_recipient_only)")
    hard_suppresses = kind == Kind.HARD and policy.suppress_hard_bounces
    scored = h is not None and kind in (Kind.HARD, Kind.SOFT) and c.scored and not hard_suppresses
    reasoned = len(reasons)
    bounce_id = session.execute(
        _INSERT,
        {
            "received_at": utcnow(),
            "source": source[:1000],
            "kind": kind,
            "address": target.address,
            "key_hash": h,
            "subscriber_id": target.subscriber_id,
            "delivery_id": target.delivery_id,
            "campaign_id": target.campaign_id,
            "attribution": target.how,
            "status": (c.status or "")[:255] or None,
            "reason": c.reason,
            "diagnostic": c.diagnostic,
            "reasons": "\n".join(reasons) or None,
            "scored": scored,
            "decision": Decision.RECORDED.value,
            "message_id": (c.message_id or "")[:998] or None,
            "content_hash": c.content_hash,
            "raw": zlib.compress(raw, 6) if raw is not None else None,
        },
    ).scalar_one()
    decision, score = Decision.RECORDED, None
    origin = f"bounce:{bounce_id}"
    address = target.address
    if h is not None and address is not None:
        if hard_suppresses:
            detail = f"hard bounce {c.status or ''}".strip()
            decision = _suppress(session, address, Reason.BOUNCED, detail, origin, reasons)
        elif scored:
            score = bounce_score(session, address, h, policy)
            decision = Decision.SCORED
            if score >= policy.bounce_score_threshold:
                detail = f"bounce score {score:g}"
                if _suppress(session, address, Reason.BOUNCED, detail, origin, reasons):
                    decision = Decision.SUPPRESSED
        elif kind == Kind.COMPLAINT:
            detail = "complaint (feedback loop)"
            decision = _suppress(session, address, Reason.COMPLAINT, detail, origin, reasons)
            unsubscribe(session, address, None, source=origin, actor=ACTOR, detail="complaint")
    token = c.evidence.unsubscribe_token if c.kind == Kind.UNSUBSCRIBE else None
    if token is not None and unsubscribe_with_token(session, token):
        decision = Decision.UNSUBSCRIBED
    if decision != Decision.RECORDED or score is not None or len(reasons) != reasoned:
        session.execute(
            _UPDATE,
            {
                "b_id": bounce_id,
                "decision": decision.value,
                "score": score,
                "reasons": "\n".join(reasons) or None,
            },
        )
    return Recorded(bounce_id, kind, decision.value, score)


_SUPPRESSION = Suppression.__table__  # type: ignore[attr-defined]
_EVENT = ConsentEvent.__table__  # type: ignore[attr-defined]
_SUBSCRIBER = Subscriber.__table__  # type: ignore[attr-defined]
_FIND_SUPPRESSION = sa.select(_SUPPRESSION.c.reason, _SUPPRESSION.c.source).where(
    _SUPPRESSION.c.key_hash == sa.bindparam("h")
)
_FIND_SUBSCRIBER = sa.select(_SUBSCRIBER.c.id).where(_SUBSCRIBER.c.key == sa.bindparam("k"))


def _suppress(
    session: Session, address: str, reason: Reason, detail: str, origin: str, notes: list[str]
) -> Decision:
    """Suppress unless already suppressed (then the earlier cause stays, and it is noted).

    The rows are exactly those :func:`~newsletter.subscribers.suppressions.suppress`
    writes (``tests/test_inbound_policy.py`` compares them), in Core statements:
    the ORM path was a third of a run's time when most messages are hard bounces.
    """
    parsed = parse_address(address)
    h = key_hash(session, parsed.key)
    conn = session.connection()
    existing = conn.execute(_FIND_SUPPRESSION, {"h": h}).first()
    if existing is not None:
        notes.append(f"address was already suppressed ({existing.reason}, {existing.source})")
        return Decision.RECORDED
    now = utcnow()
    conn.execute(
        sa.insert(_SUPPRESSION),
        {"key_hash": h, "address": parsed.email, "reason": reason.value, "detail": detail,
         "source": origin, "created_at": now},
    )  # fmt: skip
    conn.execute(
        sa.insert(_EVENT),
        {"at": now, "actor": ACTOR, "action": "suppress",
         "subscriber_id": conn.execute(_FIND_SUBSCRIBER, {"k": parsed.key}).scalar(),
         "list_slug": None, "subject": parsed.key, "subject_hash": h, "source": origin,
         "detail": reason.value},
    )  # fmt: skip
    return Decision.SUPPRESSED
