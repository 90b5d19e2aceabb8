"""Looking up one subscriber and changing their data, with what must follow an address.

A new address must not be suppressed nor belong to someone else, and a suppression that is
the person's will (a complaint, an unsubscription, a manual block) follows them to it while
a bounce stays with the old mailbox. Adding a subscriber who already exists changes their
data the same way, so :mod:`newsletter.subscribers.people` builds on this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, select

from newsletter.db import key_hash
from newsletter.db.columns import utcnow as _now
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.errors import SubscriberError, UnknownSubscriber
from newsletter.subscribers.fields import check_name, check_timezone
from newsletter.subscribers.lists import check_language
from newsletter.subscribers.suppressions import suppress
from newsletter.subscribers.tables import Reason, Subscriber, Suppression


def get_subscriber(session: Session, who: str | int) -> Subscriber:
    """Find a subscriber by id or by address (compared by key, so case does not matter)."""
    if isinstance(who, int) or str(who).strip().isdigit():
        found = session.get(Subscriber, int(who))
    else:
        key = parse_address(str(who)).key
        found = session.exec(select(Subscriber).where(Subscriber.key == key)).first()
    if found is None:
        raise UnknownSubscriber(f"no subscriber {who}", field="address")
    return found


def suppressed_error(row: Suppression, email: str) -> SubscriberError:
    return SubscriberError(
        f"{email} is suppressed ({row.reason} on {row.created_at:%Y-%m-%d}) and cannot be "
        f"subscribed; if that is wrong, first run: newsletter suppressions remove {email}",
        field="address",
    )


def apply_changes(
    session: Session,
    sub: Subscriber,
    *,
    email: str | None = None,
    name: str | None = None,
    language: str | None = None,
    set_attributes: dict[str, Any] | None = None,
    unset_attributes: Iterable[str] = (),
    source: str,
    actor: str | None,
    timezone: str | None = None,
) -> list[str]:
    """Apply the given changes to ``sub``, audited; the names of the fields that changed."""
    changed: list[str] = []
    old_key = sub.key
    if email is not None:
        addr = parse_address(email)
        if addr.key != sub.key:
            if session.exec(select(Subscriber.id).where(Subscriber.key == addr.key)).first():
                raise SubscriberError(f"{addr.email} is already a subscriber", field="email")
            h = key_hash(session, addr.key)
            blocked = session.exec(select(Suppression).where(Suppression.key_hash == h)).first()
            if blocked is not None:
                raise suppressed_error(blocked, addr.email)
            carried = session.exec(
                select(Suppression).where(Suppression.key_hash == sub.key_hash)
            ).first()
            sub.key, sub.key_hash = addr.key, h
            # A complaint, an unsubscription or a manual block is the person's
            # (or the admin's) will and follows them to the new address; a bounce
            # belongs to the old mailbox only, so a new address is a fresh start.
            if carried is not None and carried.reason != Reason.BOUNCED.value:
                suppress(
                    session,
                    addr.email,
                    Reason(carried.reason),
                    detail=f"carried over from the previous address ({carried.reason})",
                    source=source,
                    actor=actor,
                )
        if addr.email != sub.email:
            sub.email = addr.email
            changed.append("email")
    if name is not None and (name or None) != sub.name:
        sub.name = check_name(name) or None
        changed.append("name")
    if language is not None and (language or None) != sub.language:
        sub.language = check_language(language)
        changed.append("language")
    if timezone is not None and (timezone or None) != sub.timezone:
        sub.timezone = check_timezone(timezone)
        changed.append("timezone")
    attributes = dict(sub.attributes)
    attributes.update(set_attributes or {})
    for k in unset_attributes:
        attributes.pop(k, None)
    if attributes != sub.attributes:
        changed.append("attributes")
        sub.attributes = attributes
    if changed:
        sub.updated_at = _now()
        session.add(sub)
        audit.record(
            session,
            "update",
            old_key,
            source=source,
            subscriber_id=sub.id,
            actor=actor,
            detail=", ".join(changed),
        )
        session.flush()
    return changed


def edit_subscriber(
    session: Session,
    who: str | int,
    *,
    email: str | None = None,
    name: str | None = None,
    language: str | None = None,
    set_attributes: dict[str, Any] | None = None,
    unset_attributes: Iterable[str] = (),
    source: str = "cli",
    actor: str | None = None,
    timezone: str | None = None,
) -> list[str]:
    """Change a subscriber's data; returns the names of the fields that changed.

    An empty ``name``, ``language`` or ``timezone`` clears it. A new address
    must not be suppressed or belong to someone else.
    """
    sub = get_subscriber(session, who)
    return apply_changes(
        session,
        sub,
        email=email,
        name=name,
        language=language,
        set_attributes=set_attributes,
        unset_attributes=unset_attributes,
        source=source,
        actor=actor,
        timezone=timezone,
    )
