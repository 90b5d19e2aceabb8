"""Whose message was it: evidence from :mod:`~newsletter.inbound.classify` against the log.

In order of trust: the VERP token of our return path (its MAC proves we
made it), our Message-ID in the returned headers (it must equal the one the
delivery log recorded), our List-Id together with the recipient the report
names, and last the failed recipient alone, only when no returned message
contradicts us and we did mail that address. Nothing is ever attributed
from free text alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.campaigns.tables import Campaign, Delivery
from newsletter.errors import BadInput
from newsletter.inbound.classify import Classification
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.tables import Subscriber


@dataclass(frozen=True)
class Target:
    """Who a message is about; ``how`` says by which evidence."""

    how: str  # verp | message-id | list-id | dsn-recipient | token
    address: str | None
    delivery_id: int | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None


def address_forms(address: str) -> set[str]:
    """The address as the log may hold it: lower-cased, Unicode and ``xn--`` domain alike.

    A DSN names the envelope recipient (ASCII domain); the log keeps the
    address as the subscriber gave it (usually the Unicode domain).
    """
    text = address.strip().strip("<>")
    forms = {text.lower()}
    try:
        parsed = parse_address(text)
    except BadInput:
        return forms
    return forms | {parsed.email.lower(), parsed.key}


def _target(how: str, d: Delivery) -> Target:
    return Target(how, d.address, d.id, d.campaign_id, d.subscriber_id)


def _latest_delivery(session: Session, address: str, slugs: list[str] | None) -> Delivery | None:
    query = (
        select(Delivery)
        .where(sa.func.lower(Delivery.address).in_(address_forms(address)))
        .order_by(Delivery.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    if slugs:
        query = query.join(Campaign, Campaign.id == Delivery.campaign_id).where(  # type: ignore[arg-type]
            Campaign.list_slug.in_(slugs)  # type: ignore[attr-defined]
        )
    return session.exec(query).first()


def attribute(session: Session, c: Classification) -> Target | None:
    """The delivery or subscriber ``c`` is about, or None when it is not ours."""
    ev = c.evidence
    for delivery_id in ev.verp_deliveries:
        d = session.get(Delivery, delivery_id)
        if d is not None:
            return _target("verp", d)
    for message_id, delivery_id in ev.message_ids:
        d = session.get(Delivery, delivery_id)
        if d is not None and d.message_id == message_id:
            return _target("message-id", d)
    if ev.unsubscribe is not None:
        sub = session.get(Subscriber, ev.unsubscribe[0])
        return Target("token", sub.email if sub else None, subscriber_id=ev.unsubscribe[0])
    recipients = [r for r in ev.recipients if "@" in r]
    if ev.list_slugs:
        for r in recipients:
            d = _latest_delivery(session, r, ev.list_slugs)
            if d is not None:
                return _target("list-id", d)
    if not ev.returned_foreign:
        for r in recipients:
            d = _latest_delivery(session, r, None)
            if d is not None:
                return _target("dsn-recipient", d)
    return None
