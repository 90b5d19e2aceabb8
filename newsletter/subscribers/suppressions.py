"""The suppression list: addresses no list may mail, whatever their subscriptions say.

Suppressions are matched by ``key_hash`` (a keyed hash of the address key),
never by the plain address, so a forgotten person's hashed suppression keeps
working without the address being stored anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import key_hash
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import address_forms, parse_address
from newsletter.subscribers.eligibility import suppressed
from newsletter.subscribers.errors import SubscriberError
from newsletter.subscribers.tables import Reason, Subscriber, Suppression


def suppression_for(session: Session, address: str) -> Suppression | None:
    """The suppression that blocks ``address``, or None."""
    h = key_hash(session, parse_address(address).key)
    return session.exec(select(Suppression).where(Suppression.key_hash == h)).first()


def is_suppressed(session: Session, address: str) -> bool:
    """Whether ``address`` must not be mailed: the test the ledger applies at send time."""
    h = key_hash(session, parse_address(address).key)
    return bool(session.execute(sa.select(suppressed(h))).scalar())


def suppress(
    session: Session,
    address: str,
    reason: Reason | str,
    *,
    detail: str | None = None,
    source: str = "cli",
    actor: str | None = None,
) -> Suppression:
    """Block ``address`` on every list; idempotent.

    A second call keeps the first reason and date: the earliest cause is the
    one worth knowing when someone asks why they no longer get mail.
    """
    reason = Reason(reason)
    addr = parse_address(address)
    h = key_hash(session, addr.key)
    existing = session.exec(select(Suppression).where(Suppression.key_hash == h)).first()
    if existing is not None:
        return existing
    row = Suppression(
        key_hash=h, address=addr.email, reason=reason.value, detail=detail, source=source
    )
    session.add(row)
    _log(session, "suppress", addr.key, source, actor, reason.value)
    session.flush()
    return row


def unsuppress(
    session: Session, address: str, *, source: str = "cli", actor: str | None = None
) -> Suppression:
    """Lift a suppression (e.g. a bounce that was the receiver's fault)."""
    addr = parse_address(address)
    h = key_hash(session, addr.key)
    row = session.exec(select(Suppression).where(Suppression.key_hash == h)).first()
    if row is None:
        raise SubscriberError(f"{addr.email} is not suppressed", field="address")
    session.delete(row)
    _log(session, "unsuppress", addr.key, source, actor, row.reason)
    session.flush()
    return row


def _log(
    session: Session, action: str, key: str, source: str, actor: str | None, detail: str
) -> None:
    """Consent-log a (un)suppression, linked to the subscriber with that address if any."""
    subscriber_id = session.exec(select(Subscriber.id).where(Subscriber.key == key)).first()
    audit.record(
        session,
        action,
        key,
        source=source,
        subscriber_id=subscriber_id,
        actor=actor,
        detail=detail,
    )


def iter_suppressions(
    session: Session, *, reason: str | None = None, search: str | None = None
) -> Iterator[Suppression]:
    """Suppressions, newest first; forgotten ones show no address."""
    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())  # type: ignore[union-attr,attr-defined]
    if reason:
        query = query.where(Suppression.reason == Reason(reason).value)
    if search:
        address = sa.func.lower(Suppression.address)
        query = query.where(
            sa.or_(*(address.contains(f, autoescape=True) for f in address_forms(search)))
        )
    yield from session.exec(query.execution_options(yield_per=1000))
