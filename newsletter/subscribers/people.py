"""Subscribers and their subscriptions: add, unsubscribe, remove, and who gets mail.

Every change writes a consent event (:mod:`newsletter.subscribers.audit`).
Functions flush but never commit: the caller's session is the unit of work.
Two rules protect people from being mailed against their will:

* a suppressed address cannot be added or imported;
* an address that unsubscribed from a list can only come back with
  ``resubscribe=True`` and a consent note saying why.

Looking one subscriber up and changing their data is :mod:`newsletter.subscribers.editing`;
``get_subscriber`` and ``edit_subscriber`` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import key_hash
from newsletter.db.columns import utcnow as _now
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import parse_address

# get_subscriber and edit_subscriber are re-exported: this module's public functions
from newsletter.subscribers.editing import apply_changes, suppressed_error
from newsletter.subscribers.editing import edit_subscriber as edit_subscriber
from newsletter.subscribers.editing import get_subscriber as get_subscriber
from newsletter.subscribers.eligibility import mailable
from newsletter.subscribers.errors import SubscriberError
from newsletter.subscribers.fields import check_name, check_timezone
from newsletter.subscribers.lists import check_language, get_list
from newsletter.subscribers.suppressions import suppress
from newsletter.subscribers.tables import (
    MailingList,
    Reason,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)


def consent_note_or_none(consent_note: str | None) -> str | None:
    """The note without surrounding blanks; a blank note is no note at all."""
    return (consent_note or "").strip() or None


def require_consent_note(status: Status | str, consent_note: str | None) -> None:
    """Confirming someone without their click needs a recorded reason (GDPR Art. 7)."""
    if Status(status) == Status.CONFIRMED and not consent_note_or_none(consent_note):
        raise SubscriberError(
            'marking subscribers as confirmed needs --consent-note "…" saying where their '
            "consent comes from (it is kept in the consent log)",
            field="consent-note",
        )


def add_subscriber(
    session: Session,
    email: str,
    lists: Sequence[str] = (),
    *,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    status: Status | str = Status.UNCONFIRMED,
    consent_note: str | None = None,
    resubscribe: bool = False,
    source: str = "cli",
    actor: str | None = None,
    check_deliverability: bool = False,
    timezone: str | None = None,
) -> Subscriber:
    """Add a person (or update them) and subscribe them to ``lists``."""
    status = Status(status)
    if status == Status.UNSUBSCRIBED:
        raise SubscriberError("use unsubscribe to unsubscribe someone", field="status")
    consent_note = consent_note_or_none(consent_note)
    require_consent_note(status, consent_note)
    if resubscribe and not consent_note:
        raise SubscriberError('--resubscribe needs --consent-note "…"', field="consent-note")
    addr = parse_address(email, check_deliverability=check_deliverability)
    h = key_hash(session, addr.key)
    blocked = session.exec(select(Suppression).where(Suppression.key_hash == h)).first()
    if blocked is not None:
        raise suppressed_error(blocked, addr.email)
    language = check_language(language)
    check_name(name)
    mls = [get_list(session, slug) for slug in lists]
    sub = session.exec(select(Subscriber).where(Subscriber.key == addr.key)).first()
    if sub is None:
        sub = Subscriber(
            email=addr.email,
            key=addr.key,
            key_hash=h,
            name=name or None,
            language=language,
            attributes=dict(attributes or {}),
            timezone=check_timezone(timezone),
        )
        session.add(sub)
        session.flush()
    else:
        apply_changes(
            session,
            sub,
            name=name,
            language=language,
            set_attributes=attributes,
            source=source,
            actor=actor,
            timezone=timezone or None,
        )
    detail = f"consent: {consent_note}" if consent_note else None
    for ml in mls:
        _subscribe(
            session,
            sub,
            ml,
            status,
            resubscribe=resubscribe,
            source=source,
            actor=actor,
            detail=detail,
        )
    session.flush()
    return sub


def _subscribe(
    session: Session,
    sub: Subscriber,
    ml: MailingList,
    status: Status,
    *,
    resubscribe: bool,
    source: str,
    actor: str | None,
    detail: str | None,
) -> None:
    now = _now()
    row = session.get(Subscription, (sub.id, ml.id))
    if row is not None and row.status == Status.UNSUBSCRIBED and not resubscribe:
        when = f" on {row.unsubscribed_at:%Y-%m-%d}" if row.unsubscribed_at else ""
        raise SubscriberError(
            f"{sub.email} unsubscribed from {ml.slug}{when}; if they asked to come back, "
            'add --resubscribe --consent-note "…"',
            field="address",
        )
    # Never downgrade a confirmed subscription; unconfirmed stays as it is
    # unless this call confirms it.
    if (
        row is not None
        and row.status != Status.UNSUBSCRIBED
        and (row.status == Status.CONFIRMED or status == Status.UNCONFIRMED)
    ):
        return
    action = "confirm" if status == Status.CONFIRMED else "subscribe"
    if row is None:
        row = Subscription(subscriber_id=sub.id, list_id=ml.id, status=status, source=source)  # type: ignore[arg-type]
    elif row.status == Status.UNSUBSCRIBED:
        action = "resubscribe"
    row.status = status.value
    row.updated_at = now
    row.unsubscribed_at = None
    row.confirmed_at = now if status == Status.CONFIRMED else None
    session.add(row)
    audit.record(
        session,
        action,
        sub.key,
        source=source,
        subscriber_id=sub.id,
        list_slug=ml.slug,
        actor=actor,
        detail=detail,
    )


def unsubscribe(
    session: Session,
    who: str | int,
    list_slug: str | None = None,
    *,
    source: str = "cli",
    actor: str | None = None,
    detail: str | None = None,
) -> list[str]:
    """Unsubscribe from one list, or from all lists when ``list_slug`` is None.

    "All lists" also suppresses the address (reason ``unsubscribed``), so no
    list created later and no import can mail them again. Returns the slugs
    whose subscription changed. Idempotent.
    """
    if list_slug is None and not (isinstance(who, int) or str(who).strip().isdigit()):
        addr = parse_address(str(who))
        sub = session.exec(select(Subscriber).where(Subscriber.key == addr.key)).first()
        suppress(
            session, addr.email, Reason.UNSUBSCRIBED, detail=detail, source=source, actor=actor
        )
        if sub is None:
            return []
    else:
        sub = get_subscriber(session, who)
        if list_slug is None:
            suppress(
                session, sub.email, Reason.UNSUBSCRIBED, detail=detail, source=source, actor=actor
            )
    query = (
        select(Subscription, MailingList)
        .join(MailingList, MailingList.id == Subscription.list_id)  # type: ignore[arg-type]
        .where(Subscription.subscriber_id == sub.id)
    )
    if list_slug is not None:
        ml = get_list(session, list_slug)
        query = query.where(Subscription.list_id == ml.id)
    rows = session.exec(query).all()
    if list_slug is not None and not rows:
        raise SubscriberError(f"{sub.email} is not subscribed to {list_slug}", field="list")
    changed = []
    now = _now()
    for row, ml in rows:
        if row.status == Status.UNSUBSCRIBED:
            continue
        row.status, row.unsubscribed_at, row.updated_at = Status.UNSUBSCRIBED.value, now, now
        session.add(row)
        audit.record(
            session,
            "unsubscribe",
            sub.key,
            source=source,
            subscriber_id=sub.id,
            list_slug=ml.slug,
            actor=actor,
            detail=detail,
        )
        changed.append(ml.slug)
    session.flush()
    return changed


def remove_subscriber(
    session: Session, who: str | int, *, source: str = "cli", actor: str | None = None
) -> Subscriber:
    """Delete a subscriber and their subscriptions, but not their suppressions.

    Meant for mistakes (a typo, a test address). The consent log keeps the
    address; to erase a person use :func:`newsletter.subscribers.gdpr.forget`.
    """
    sub = get_subscriber(session, who)
    audit.record(session, "remove", sub.key, source=source, subscriber_id=None, actor=actor)
    session.flush()
    session.expunge(sub)
    session.execute(sa.delete(Subscriber).where(Subscriber.id == sub.id))  # type: ignore[arg-type]
    session.expire_all()
    return sub


def recipients(
    session: Session, list_slug: str, where: sa.ColumnElement[bool] | None = None
) -> Iterator[Subscriber]:
    """Confirmed, non-suppressed subscribers of a list, by id, streamed in pages.

    Who that is, is :func:`~newsletter.subscribers.eligibility.mailable`: the
    campaign ledger checks the same expression again right before each send.
    ``where`` narrows it to a segment (:mod:`newsletter.subscribers.segments`).
    """
    ml = get_list(session, list_slug)
    query = (
        select(Subscriber)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)  # type: ignore[arg-type]
        .where(mailable(ml.id))
        .order_by(Subscriber.id)  # type: ignore[arg-type]
        .execution_options(yield_per=1000)
    )
    if where is not None:
        query = query.where(where)
    yield from session.exec(query)
