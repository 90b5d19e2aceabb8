"""Reviewing decisions: list and show bounce rows, undo a suppression one caused.

Also a person's bounces in ``subscribers data`` (registered with
:mod:`newsletter.subscribers.gdpr`); the complaint rate of a campaign
(``campaigns show``) and the bounce of each delivery (``log``) are read
without the ORM in :mod:`newsletter.inbound.summary`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db.columns import utcnow
from newsletter.errors import BadInput
from newsletter.inbound.tables import Bounce, Decision, Kind
from newsletter.subscribers import gdpr
from newsletter.subscribers.suppressions import suppression_for, unsuppress


class BounceError(BadInput):
    """A bounce id that does not exist, or an undo that cannot be done."""


def iter_bounces(
    session: Session, *, since: datetime | None = None, kind: str | None = None
) -> Iterator[Bounce]:
    """Bounce rows, newest first, without loading the raw messages."""
    query = select(Bounce).options(sa.orm.defer(Bounce.raw))  # type: ignore[arg-type]
    if since is not None:
        query = query.where(Bounce.received_at >= since)
    if kind:
        query = query.where(Bounce.kind == Kind(kind).value)
    query = query.order_by(Bounce.id.desc()).execution_options(yield_per=500)  # type: ignore[union-attr]
    yield from session.exec(query)


def get_bounce(session: Session, bounce_id: int) -> Bounce:
    row = session.get(Bounce, bounce_id)
    if row is None:
        raise BounceError(f"no bounce {bounce_id}; see: newsletter bounces list")
    return row


def raw_message(row: Bounce) -> bytes | None:
    """The message as it arrived (stored compressed)."""
    return zlib.decompress(row.raw) if row.raw is not None else None


@dataclass(frozen=True)
class Undone:
    bounce_id: int
    address: str
    lifted: str | None  # the reason of the suppression lifted, or None if none was left


def undo(session: Session, bounce_id: int, *, actor: str | None = None) -> Undone:
    """Lift the suppression bounce ``bounce_id`` caused (consent-logged); forgive its score.

    Only a suppression this bounce made is lifted: one made since by
    something else (a complaint, an admin) stays.
    """
    row = get_bounce(session, bounce_id)
    if row.decision == Decision.UNDONE:
        raise BounceError(f"bounce {bounce_id} was already undone on {row.undone_at:%Y-%m-%d}")
    if row.decision != Decision.SUPPRESSED or not row.address:
        raise BounceError(
            f"bounce {bounce_id} did not suppress anything (decision: {row.decision})"
        )
    current = suppression_for(session, row.address)
    lifted = None
    if current is not None:
        if current.source != f"bounce:{bounce_id}":
            raise BounceError(
                f"{row.address} is suppressed by {current.source or 'something else'} "
                f"({current.reason}), not by bounce {bounce_id}; lift that with: "
                f"newsletter suppressions remove {row.address}"
            )
        unsuppress(session, row.address, source=f"bounces undo {bounce_id}", actor=actor)
        lifted = current.reason
    row.decision = Decision.UNDONE.value
    row.undone_at = utcnow()
    session.add(row)
    session.flush()
    return Undone(bounce_id, row.address, lifted)


def _of(person: gdpr.Person) -> sa.ColumnElement[bool]:
    cond = Bounce.key_hash.in_(person.hashes)  # type: ignore[union-attr]
    if person.subscriber_id is not None:
        cond = sa.or_(cond, Bounce.subscriber_id == person.subscriber_id)  # type: ignore[arg-type]
    return cond


def collect_bounces(session: Session, person: gdpr.Person) -> list[dict[str, object]] | None:
    """Art. 15: every bounce, complaint or reply of this person we recorded."""
    rows = session.exec(
        select(Bounce).options(sa.orm.defer(Bounce.raw)).where(_of(person)).order_by(Bounce.id)  # type: ignore[arg-type]
    ).all()
    return [
        {
            "id": b.id,
            "received_at": b.received_at,
            "kind": b.kind,
            "status": b.status,
            "reason": b.reason,
            "diagnostic": b.diagnostic,
            "decision": b.decision,
            "score": b.score,
            "campaign": b.campaign_id,
            "delivery": b.delivery_id,
            "source": b.source,
        }
        for b in rows
    ] or None


def forget_bounces(session: Session, person: gdpr.Person) -> int:
    """Art. 17: the raw messages quote the address, so the rows go entirely."""
    result = session.execute(sa.delete(Bounce).where(_of(person)))
    return result.rowcount  # type: ignore[attr-defined]


gdpr.register("bounces", collect=collect_bounces, scrub=forget_bounces)
