"""Mailing lists: create, look up, count, rename, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.subscribers.errors import SubscriberError, UnknownList
from newsletter.subscribers.fields import check_language, check_slug, check_timezone
from newsletter.subscribers.tables import MailingList, Status, Subscription


def get_list(session: Session, slug: str) -> MailingList:
    """The list called ``slug``; the error names the lists that do exist."""
    found = session.exec(select(MailingList).where(MailingList.slug == slug)).first()
    if found is None:
        slugs = session.exec(select(MailingList.slug).order_by(MailingList.slug)).all()
        hint = f"; existing lists: {', '.join(slugs)}" if slugs else "; create it with: "
        if not slugs:
            hint += f"newsletter lists create {slug}"
        raise UnknownList(f"unknown list {slug!r}{hint}", field="list")
    return found


def create_list(
    session: Session,
    slug: str,
    name: str | None = None,
    *,
    description: str | None = None,
    language: str | None = None,
    languages: Sequence[str] = (),
    double_opt_in: bool = True,
) -> MailingList:
    """Create a list; double opt-in is the default because it proves consent.

    ``languages`` are the sign-up form's choices (none: every language).
    """
    check_slug(slug)
    offered = ",".join(dict.fromkeys(t for x in languages if (t := check_language(x.strip()))))
    if len(offered) > 200:
        raise SubscriberError("too many languages (at most 200 characters)", field="languages")
    if session.exec(select(MailingList.id).where(MailingList.slug == slug)).first():
        raise SubscriberError(f"list {slug!r} already exists", field="slug")
    ml = MailingList(
        slug=slug,
        name=name or slug,
        description=description,
        language=check_language(language),
        languages=offered or None,
        double_opt_in=double_opt_in,
    )
    session.add(ml)
    session.flush()
    return ml


@dataclass(frozen=True)
class ListSummary:
    slug: str
    name: str
    language: str | None
    double_opt_in: bool
    confirmed: int
    unconfirmed: int
    unsubscribed: int

    @property
    def total(self) -> int:
        return self.confirmed + self.unconfirmed + self.unsubscribed


def list_summaries(session: Session, slug: str | None = None) -> list[ListSummary]:
    """Every list with its subscription counts per status, in one query."""

    def count(status: Status) -> sa.ColumnElement[int]:
        return sa.func.count(sa.case((Subscription.status == status.value, 1)))  # type: ignore[arg-type]

    query = (
        sa.select(
            MailingList,
            count(Status.CONFIRMED),
            count(Status.UNCONFIRMED),
            count(Status.UNSUBSCRIBED),
        )
        .outerjoin(Subscription, Subscription.list_id == MailingList.id)  # type: ignore[arg-type]
        .group_by(MailingList.id)  # type: ignore[arg-type]
        .order_by(MailingList.slug)
    )
    if slug is not None:
        query = query.where(MailingList.id == get_list(session, slug).id)  # type: ignore[arg-type]
    return [
        ListSummary(ml.slug, ml.name, ml.language, ml.double_opt_in, c, u, x)
        for ml, c, u, x in session.execute(query).all()
    ]


def rename_list(
    session: Session,
    slug: str,
    *,
    new_slug: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> MailingList:
    """Change a list's slug, name or description; subscriptions stay attached."""
    ml = get_list(session, slug)
    if new_slug is None and name is None and description is None:
        raise SubscriberError("nothing to change: give a new slug, --name or --description")
    if new_slug is not None and new_slug != slug:
        check_slug(new_slug)
        if session.exec(select(MailingList.id).where(MailingList.slug == new_slug)).first():
            raise SubscriberError(f"list {new_slug!r} already exists", field="slug")
        ml.slug = new_slug
    if name is not None:
        ml.name = name
    if description is not None:
        ml.description = description or None
    session.add(ml)
    session.flush()
    return ml


def delete_list(
    session: Session, slug: str, *, unsubscribed: str = "refuse", source: str = "cli"
) -> int:
    """Delete a list and its subscriptions; returns how many subscriptions went.

    Subscribers themselves and all suppressions stay, so nobody who
    unsubscribed or bounced can be mailed through another list. An
    unsubscription from *this* list, though, lives only in its subscription
    row: deleting it would let a later import into a new list of the same
    name subscribe that person again. So unless the caller says what to do
    with them (``unsubscribed="suppress"``: put them on the suppression list;
    ``"forget"``: drop them knowingly) a list with unsubscribed members is
    not deleted.
    """
    from newsletter.subscribers.suppressions import suppress
    from newsletter.subscribers.tables import Reason, Subscriber

    if unsubscribed not in ("refuse", "suppress", "forget"):
        raise ValueError(unsubscribed)
    ml = get_list(session, slug)
    gone = session.exec(
        select(Subscriber.email)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)  # type: ignore[arg-type]
        .where(Subscription.list_id == ml.id, Subscription.status == Status.UNSUBSCRIBED.value)
    ).all()
    if gone and unsubscribed == "refuse":
        raise SubscriberError(
            f"{len(gone)} people unsubscribed from {slug}; deleting the list would forget that, "
            "and a later import into a list of the same name could subscribe them again. "
            "Use --suppress-unsubscribed to block them from every list, or "
            "--forget-unsubscribed to delete anyway",
            field="list",
        )
    if unsubscribed == "suppress":
        for email in gone:
            suppress(
                session,
                email,
                Reason.UNSUBSCRIBED,
                detail=f"unsubscribed from {slug}, a list since deleted",
                source=source,
            )
    removed = session.execute(
        sa.select(sa.func.count()).where(Subscription.list_id == ml.id)  # type: ignore[arg-type]
    ).scalar_one()
    session.execute(sa.delete(Subscription).where(Subscription.list_id == ml.id))  # type: ignore[arg-type]
    session.execute(sa.delete(MailingList).where(MailingList.id == ml.id))  # type: ignore[arg-type]
    return removed


def set_time_zone(
    session: Session, slug: str, zone: str | None, *, from_language: bool | None = None
) -> MailingList:
    """The zone of the list's subscribers who gave none (``""`` clears it), and whether their
    language may stand in first; both only time campaigns sent with ``--local``."""
    ml = get_list(session, slug)
    if zone is not None:
        ml.timezone = check_timezone(zone)
    if from_language is not None:
        ml.timezone_from_language = from_language
    session.add(ml)
    session.flush()
    return ml


def set_expiry(
    session: Session,
    slug: str,
    *,
    remind_after_days: int | None = None,
    expire_after_days: int | None = None,
) -> MailingList:
    """Set when a list's unconfirmed people are reminded (0: never) and deleted (0: never)."""
    ml = get_list(session, slug)
    remind = ml.remind_after_days if remind_after_days is None else remind_after_days
    expire = ml.expire_after_days if expire_after_days is None else expire_after_days
    for field, days in (("remind-after-days", remind), ("expire-after-days", expire)):
        if not 0 <= days <= 3650:
            raise SubscriberError(f"{days} is not a number of days from 0 to 3650", field=field)
    if expire and remind and expire <= remind:
        raise SubscriberError(
            f"expiry after {expire} days would come before the reminder after {remind} days",
            field="expire-after-days",
        )
    ml.remind_after_days, ml.expire_after_days = remind, expire
    session.add(ml)
    session.flush()
    return ml
