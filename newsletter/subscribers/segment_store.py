"""Saved segments: a name for an expression of :mod:`newsletter.subscribers.segments`.

Only the text is stored, and it is compiled again on every use, so a
segment always means what it says with the lists and data of the moment;
only valid expressions are saved. A campaign keeps the text it was created
with (``Campaign.segment_expression``), whatever happens to the segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db.columns import utcnow
from newsletter.subscribers.eligibility import mailable, suppressed
from newsletter.subscribers.errors import SubscriberError
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.segments import SUBSCRIBER, SUBSCRIPTION, compile_where
from newsletter.subscribers.status import Status
from newsletter.subscribers.tables import Segment as SavedSegment

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    expression: str
    count: int  # the people it selects now (of the list asked about, or of every list)
    updated_at: datetime


def save_segment(session: Session, name: str, expression: str) -> SavedSegment:
    """Store (or replace) a named expression; it is checked first, so only valid ones are kept."""
    if not NAME.fullmatch(name):
        raise SubscriberError(
            f"segment name {name!r}: use lower-case letters, digits, '-' and '_'", field="name"
        )
    compile_where(session.connection(), expression)
    row = session.exec(select(SavedSegment).where(SavedSegment.name == name)).first()
    if row is None:
        row = SavedSegment(name=name, expression=expression)
    else:
        row.expression, row.updated_at = expression, utcnow()
    session.add(row)
    session.flush()
    return row


def get_segment(session: Session, name: str) -> SavedSegment:
    row = session.exec(select(SavedSegment).where(SavedSegment.name == name)).first()
    if row is None:
        names = session.exec(select(SavedSegment.name).order_by(SavedSegment.name)).all()
        hint = (
            f"; saved: {', '.join(names)}" if names else "; save one with: newsletter segments save"
        )
        raise SubscriberError(f"no segment {name!r}{hint}", field="segment")
    return row


def delete_segment(session: Session, name: str) -> None:
    session.delete(get_segment(session, name))


def count_matching(
    session: Session, condition: sa.ColumnElement[bool], list_slug: str | None
) -> int:
    """How many people the condition selects among those who may be mailed now."""
    query = (
        sa.select(sa.func.count(sa.distinct(SUBSCRIBER.c.id)))
        .select_from(SUBSCRIBER.join(SUBSCRIPTION, SUBSCRIPTION.c.subscriber_id == SUBSCRIBER.c.id))
        .where(condition)
    )
    if list_slug is not None:
        query = query.where(mailable(get_list(session, list_slug).id))
    else:
        query = query.where(
            SUBSCRIPTION.c.status == Status.CONFIRMED.value, ~suppressed(SUBSCRIBER.c.key_hash)
        )
    return session.execute(query).scalar_one()


def segments(
    session: Session, list_slug: str | None = None, name: str | None = None
) -> list[SegmentInfo]:
    """Saved segments with their current counts (all, or the one called ``name``)."""
    rows = (
        [get_segment(session, name)]
        if name
        else session.exec(select(SavedSegment).order_by(SavedSegment.name)).all()
    )
    connection = session.connection()
    return [
        SegmentInfo(
            r.name,
            r.expression,
            count_matching(
                session,
                compile_where(connection, r.expression, source=f"segment {r.name}"),
                list_slug,
            ),
            r.updated_at,
        )
        for r in rows
    ]
