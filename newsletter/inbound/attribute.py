"""Whose message was it: evidence from :mod:`~newsletter.inbound.classify` against the log.

Only authenticated evidence acts: the VERP token of our return path or our
Message-ID with its MAC (both made with the installation's key, so a
reader cannot write another delivery's), naming a delivery that was
actually sent. A token or MAC that fails verification makes the message
not ours at all. The failed recipient alone, our List-Id (anyone can copy
it) or a Message-ID without a MAC only make a target with ``verified``
False, which the policy records as ``unverified`` and does nothing with,
unless ``[inbound] trust_recipient_only``. Nothing is ever attributed from
free text alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus
from newsletter.errors import BadInput
from newsletter.inbound.classify import Classification
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.tables import Subscriber


@dataclass(frozen=True)
class Target:
    """Who a message is about; ``how`` says by which evidence."""

    how: str  # verp | message-id | token | list-id | unsigned-message-id | dsn-recipient
    address: str | None
    delivery_id: int | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None
    verified: bool = True  # False: only strings anyone could write point at us


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


def _target(how: str, d: Delivery, *, verified: bool = True) -> Target:
    return Target(how, d.address, d.id, d.campaign_id, d.subscriber_id, verified)


# A bounce is of a message that left: sent, or perhaps sent (the sender died
# mid-flight), or claimed a moment ago and not yet recorded.
SENT = (DeliveryStatus.SENT.value, DeliveryStatus.UNKNOWN.value, DeliveryStatus.SENDING.value)


def was_sent(session: Session, d: Delivery) -> bool:
    """Whether delivery ``d`` went out (a draft campaign's queued rows never did)."""
    if d.status not in SENT:
        return False
    if d.campaign_id is None:
        return True
    # Per session (a batch of ``inbound process``): the identity map holds objects
    # weakly, so session.get would load the campaign again for every message.
    known: dict[int, bool] = session.info.setdefault("inbound_sent_campaigns", {})
    if d.campaign_id not in known:
        status = session.exec(select(Campaign.status).where(Campaign.id == d.campaign_id)).first()
        known[d.campaign_id] = status is not None and status != CampaignStatus.DRAFT.value
    return known[d.campaign_id]


def _latest_delivery(session: Session, address: str, slugs: list[str] | None) -> Delivery | None:
    query = (
        select(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)  # type: ignore[arg-type]
        .where(
            sa.func.lower(Delivery.address).in_(address_forms(address)),
            Delivery.status.in_(SENT),  # type: ignore[attr-defined]
            Campaign.status != CampaignStatus.DRAFT.value,
        )
        .order_by(Delivery.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    if slugs:
        query = query.where(Campaign.list_slug.in_(slugs))  # type: ignore[attr-defined]
    return session.exec(query).first()


def attribute(session: Session, c: Classification) -> Target | None:
    """The delivery or subscriber ``c`` is about, or None when it is not ours."""
    ev = c.evidence
    if ev.forged:
        return None  # someone wrote our token or Message-ID and got the MAC wrong
    for delivery_id in ev.verp_deliveries:
        d = session.get(Delivery, delivery_id)
        if d is not None and was_sent(session, d):
            return _target("verp", d)
    for message_id, delivery_id in ev.message_ids:
        d = session.get(Delivery, delivery_id)
        if d is not None and d.message_id == message_id and was_sent(session, d):
            return _target("message-id", d)
    if ev.authenticated:
        return None  # ours, but of a delivery that never went out (or was deleted)
    if ev.unsubscribe is not None:
        sub = session.get(Subscriber, ev.unsubscribe[0])
        return Target("token", sub.email if sub else None, subscriber_id=ev.unsubscribe[0])
    recipients = [r for r in ev.recipients if "@" in r]
    if ev.list_slugs:
        for r in recipients:
            d = _latest_delivery(session, r, ev.list_slugs)
            if d is not None:
                return _target("list-id", d, verified=False)
    for message_id, delivery_id in ev.unsigned_ids:
        d = session.get(Delivery, delivery_id)
        if d is not None and d.message_id == message_id and was_sent(session, d):
            return _target("unsigned-message-id", d, verified=False)
    if not ev.returned_foreign:
        for r in recipients:
            d = _latest_delivery(session, r, None)
            if d is not None:
                return _target("dsn-recipient", d, verified=False)
    return None
