"""GDPR: show everything stored about a person (Art. 15) and erase it (Art. 17).

Erasure deletes the subscriber and their subscriptions, clears the address
from the consent log and from suppressions, and leaves one hashed suppression
so no later import can bring the address back (which is the one thing a
person who asked to be forgotten would not want). On SQLite the freed pages
are zeroed (``secure_delete``) and the WAL is truncated after the commit, so
the address is gone from the files, not just from query results.

Tables added later that also hold addresses (the delivery log) register a
collector and a scrubber here instead of this module importing them::

    gdpr.register("deliveries", collect=my_collect, scrub=my_scrub)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import key_hash
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.listing import subscriptions_of
from newsletter.subscribers.tables import (
    ConsentEvent,
    Reason,
    Signup,
    SignupRequest,
    Subscriber,
    Subscription,
    Suppression,
)

Collector = Callable[[Session, "Person"], Any]
"""Returns a JSON-able section of :func:`personal_data`, or None when empty."""
Scrubber = Callable[[Session, "Person"], int]
"""Erases or hashes the person's data in one table; returns rows changed."""


@dataclass(frozen=True)
class Person:
    """Who to look up: every address key the person had, and their hashes."""

    key: str
    hashes: frozenset[str]
    subscriber_id: int | None


_collectors: dict[str, Collector] = {}
_scrubbers: dict[str, Scrubber] = {}


def register(name: str, *, collect: Collector | None = None, scrub: Scrubber | None = None) -> None:
    """Let another table take part in ``data`` and ``forget`` (idempotent per name)."""
    if collect is not None:
        _collectors[name] = collect
    if scrub is not None:
        _scrubbers[name] = scrub


def find_person(session: Session, address: str) -> Person:
    """The person behind ``address``, including addresses they had before an edit."""
    key = parse_address(address).key
    sub = session.exec(select(Subscriber).where(Subscriber.key == key)).first()
    hashes = {key_hash(session, key)}
    if sub is not None:
        hashes.add(sub.key_hash)
        hashes.update(
            session.exec(
                select(ConsentEvent.subject_hash).where(ConsentEvent.subscriber_id == sub.id)
            ).all()
        )
    return Person(key, frozenset(hashes), sub.id if sub else None)


def _events_of(person: Person) -> sa.ColumnElement[bool]:
    cond = ConsentEvent.subject_hash.in_(person.hashes)  # type: ignore[attr-defined]
    if person.subscriber_id is not None:
        cond = sa.or_(cond, ConsentEvent.subscriber_id == person.subscriber_id)  # type: ignore[arg-type]
    return cond


def personal_data(session: Session, address: str) -> dict[str, Any]:
    """Everything stored about the person with ``address``, as JSON-able data."""
    person = find_person(session, address)
    data: dict[str, Any] = {"address": address.strip(), "subscriber": None}
    if person.subscriber_id is not None:
        sub = session.get(Subscriber, person.subscriber_id)
        assert sub is not None
        data["subscriber"] = {
            "id": sub.id,
            "email": sub.email,
            "name": sub.name,
            "language": sub.language,
            "timezone": sub.timezone,
            "attributes": sub.attributes,
            "created_at": sub.created_at,
            "updated_at": sub.updated_at,
        }
        data["subscriptions"] = [
            {
                "list": s.list_slug,
                "status": s.status,
                "source": s.source,
                "subscribed_at": s.created_at,
                "confirmed_at": s.confirmed_at,
                "unsubscribed_at": s.unsubscribed_at,
            }
            for s in subscriptions_of(session, [person.subscriber_id])[person.subscriber_id]
        ]
    # Art. 15 asks for everything: a person with earlier addresses can have
    # several suppressions, one per address.
    suppressions = session.exec(
        select(Suppression)
        .where(Suppression.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
        .order_by(Suppression.created_at)  # type: ignore[arg-type]
    ).all()
    data["suppressions"] = [
        {
            "address": row.address,
            "reason": row.reason,
            "since": row.created_at,
            "detail": row.detail,
            "source": row.source,
        }
        for row in suppressions
    ]
    events = session.exec(
        select(ConsentEvent).where(_events_of(person)).order_by(ConsentEvent.id)  # type: ignore[arg-type]
    ).all()
    data["consent_log"] = [
        {
            "at": e.at,
            "action": e.action,
            "list": e.list_slug,
            "address": e.subject,
            "source": e.source,
            "actor": e.actor,
            "detail": e.detail,
        }
        for e in events
    ]
    signups = session.exec(
        select(Signup)
        .where(Signup.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
        .order_by(Signup.id)  # type: ignore[arg-type]
    ).all()
    if signups:
        data["signups"] = [
            {
                "address": row.email,
                "list_id": row.list_id,
                "name": row.name,
                "language": row.language,
                "timezone": row.timezone,
                "source": row.source,
                "requested_at": row.created_at,
                "confirmed_at": row.confirmed_at,
            }
            for row in signups
        ]
    requests = session.exec(
        select(SignupRequest)
        .where(SignupRequest.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
        .order_by(SignupRequest.id)  # type: ignore[arg-type]
    ).all()
    if requests:
        data["signup_requests"] = [
            {
                "address": row.email,
                "list": row.list_slug,
                "name": row.name,
                "language": row.language,
                "timezone": row.timezone,
                "source": row.source,
                "requested_at": row.created_at,
            }
            for row in requests
        ]
    for name, collect in _collectors.items():
        section = collect(session, person)
        if section is not None:
            data[name] = section
    return data


@dataclass
class ForgetReport:
    subscriber_deleted: bool = False
    subscriptions_deleted: int = 0
    log_entries_anonymised: int = 0
    suppressions: int = 0
    other: dict[str, int] = field(default_factory=dict)


def forget(
    session: Session, address: str, *, source: str = "cli", actor: str | None = None
) -> ForgetReport:
    """Erase the person with ``address``, keeping only a hashed suppression.

    Works for addresses we never stored too: the hashed suppression is still
    added, so "please never contact me" is honoured in advance.
    """
    person = find_person(session, address)
    own_hash = key_hash(session, person.key)
    report = erase(session, person)
    report.suppressions = session.execute(
        sa.update(Suppression)
        .where(Suppression.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
        .values(address=None, detail=None, reason=Reason.FORGOTTEN.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not session.exec(select(Suppression.id).where(Suppression.key_hash == own_hash)).first():
        session.add(Suppression(key_hash=own_hash, reason=Reason.FORGOTTEN.value, source=source))
        report.suppressions += 1
    event = audit.record(session, "forget", person.key, source=source, actor=actor)
    event.subject = None
    session.flush()
    session.expire_all()
    session.info["checkpoint"] = True
    return report


def erase(session: Session, person: Person) -> ForgetReport:
    """Delete the person and every trace of their address, but add no suppression.

    :func:`forget` adds the hashed suppression a person who asked to be
    forgotten wants; an invitation nobody confirmed is erased without one
    (:mod:`newsletter.subscribers.expiry`): that person never said anything.
    """
    report = ForgetReport()
    if person.subscriber_id is not None:
        report.subscriptions_deleted = session.execute(
            sa.select(sa.func.count()).where(Subscription.subscriber_id == person.subscriber_id)  # type: ignore[arg-type]
        ).scalar_one()
        session.execute(sa.delete(Subscriber).where(Subscriber.id == person.subscriber_id))  # type: ignore[arg-type]
        report.subscriber_deleted = True
    report.log_entries_anonymised = session.execute(  # type: ignore[attr-defined]
        sa.update(ConsentEvent)
        .where(_events_of(person))
        .values(subject=None, subscriber_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    signups = session.execute(
        sa.delete(Signup).where(Signup.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
    ).rowcount
    if signups:
        report.other["signups"] = signups
    requests = session.execute(
        sa.delete(SignupRequest).where(SignupRequest.key_hash.in_(person.hashes))  # type: ignore[attr-defined]
    ).rowcount
    if requests:
        report.other["signup_requests"] = requests
    for name, scrub in _scrubbers.items():
        report.other[name] = scrub(session, person)
    return report
