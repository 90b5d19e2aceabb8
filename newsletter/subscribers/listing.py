"""Reading subscribers page by page, for listings, exports and GDPR requests.

Pages are fetched by id (keyset pagination) with one extra query each for
their subscriptions and suppressions, so a listing of a million people needs
no more memory than one of ten.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.subscribers.addresses import address_forms
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.tables import MailingList, Status, Subscriber, Subscription, Suppression


@dataclass(frozen=True)
class SubscriptionInfo:
    list_slug: str
    status: str
    source: str | None
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None


def subscriptions_of(
    session: Session, subscriber_ids: Sequence[int]
) -> dict[int, list[SubscriptionInfo]]:
    """Subscriptions of several subscribers at once (one query per page of a listing)."""
    result: dict[int, list[SubscriptionInfo]] = {i: [] for i in subscriber_ids}
    if not subscriber_ids:
        return result
    query = (
        select(Subscription, MailingList.slug)
        .join(MailingList, MailingList.id == Subscription.list_id)  # type: ignore[arg-type]
        .where(Subscription.subscriber_id.in_(subscriber_ids))  # type: ignore[attr-defined]
        .order_by(MailingList.slug)
    )
    for row, slug in session.exec(query):
        result[row.subscriber_id].append(
            SubscriptionInfo(
                slug, row.status, row.source, row.created_at, row.confirmed_at, row.unsubscribed_at
            )
        )
    return result


def iter_subscribers(
    session: Session,
    *,
    list_slug: str | None = None,
    status: Status | str | None = None,
    search: str | None = None,
    page: int = 1000,
) -> Iterator[tuple[Subscriber, list[SubscriptionInfo], str | None]]:
    """(subscriber, subscriptions, suppression reason) by id, in constant memory.

    With ``list_slug`` only that list's subscription is given; ``status``
    filters on it (or on any list); ``search`` matches address or name.
    """
    query = select(Subscriber).order_by(Subscriber.id)  # type: ignore[arg-type]
    ml = get_list(session, list_slug) if list_slug else None
    if ml is not None or status:
        cond = [Subscription.subscriber_id == Subscriber.id]
        if ml is not None:
            cond.append(Subscription.list_id == ml.id)
        if status:
            cond.append(Subscription.status == Status(status).value)
        query = query.where(sa.exists().where(*cond))  # type: ignore[arg-type]
    if search:
        email = sa.func.lower(Subscriber.email)
        query = query.where(
            sa.or_(
                *(email.contains(form, autoescape=True) for form in address_forms(search)),
                sa.func.lower(Subscriber.name).contains(search.lower(), autoescape=True),
            )
        )
    last_id = 0
    while True:
        batch = session.exec(query.where(Subscriber.id > last_id).limit(page)).all()  # type: ignore[operator]
        if not batch:
            return
        ids = [s.id for s in batch if s.id is not None]
        subs = subscriptions_of(session, ids)
        hashes = [s.key_hash for s in batch]
        reasons = dict(  # type: ignore[var-annotated]
            session.execute(
                sa.select(Suppression.key_hash, Suppression.reason).where(  # type: ignore[call-overload]
                    Suppression.key_hash.in_(hashes)  # type: ignore[attr-defined]
                )
            ).all()
        )
        for s in batch:
            infos = subs[s.id]  # type: ignore[index]
            if ml is not None:
                infos = [i for i in infos if i.list_slug == ml.slug]
            yield s, infos, reasons.get(s.key_hash)
        last_id = ids[-1]
