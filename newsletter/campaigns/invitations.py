"""Invitations and reminders: confirmation mails an administrator, not a form, set off.

People imported into a double opt-in list are ``unconfirmed`` and get no
campaign until they confirm. :func:`invite` gives each of them a sign-up
(``source="invite"``) and queues its confirmation mail, worded as an
invitation, in the durable outbox the sign-up form uses
(:mod:`newsletter.campaigns.notices`); the click on its link is the
ordinary confirmation (:func:`newsletter.subscribers.optin.confirm_signup`).
:func:`remind` queues the one reminder of a sign-up or invitation still
unconfirmed after the list's ``remind_after_days``.

Rules that protect the people concerned, all enforced here:

* a suppressed address (unsubscribed, bounced, complained, blocked) is
  never invited or reminded: the administrator's import is not consent;
* nobody is invited twice while an invitation (or sign-up) of theirs to the
  same list can still be confirmed (``[web] confirm_days``);
* a sign-up gets at most one reminder (``Signup.reminded_at``), and none
  once its link has expired.

Nothing is sent here: the caller sends what was queued (the CLI through
:meth:`newsletter.web.mailer.Outbox.send_now`, ``serve`` by itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns import notices
from newsletter.campaigns.tables import DeliveryKind
from newsletter.config import Settings
from newsletter.db.columns import utcnow
from newsletter.subscribers.eligibility import suppressed
from newsletter.subscribers.errors import SubscriberError
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.status import Status
from newsletter.subscribers.tables import MailingList, Signup, Subscriber, Subscription

REASON_MAX = 400


@dataclass
class InviteResult:
    """What :func:`invite` did (or, with ``dry_run``, would do) for one list."""

    list_slug: str
    invited: list[str] = field(default_factory=list)  # addresses
    already_invited: int = 0  # an invitation of theirs can still be confirmed
    suppressed: int = 0


def invite(
    session: Session,
    settings: Settings,
    list_slug: str,
    *,
    since: datetime | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> InviteResult:
    """Queue an invitation to every unconfirmed person of the list (added since ``since``)."""
    now = now or utcnow()
    reason = (reason or "").strip() or None
    if reason is not None and (len(reason) > REASON_MAX or "\n" in reason):
        raise SubscriberError(
            f"the reason must be one line of at most {REASON_MAX} characters", field="reason"
        )
    ml = get_list(session, list_slug)
    if not ml.double_opt_in:
        raise SubscriberError(
            f"list {ml.slug} is single opt-in: its members need no confirmation", field="list"
        )
    lifetime = timedelta(days=settings.web.confirm_days)
    sub, sn = Subscriber.__table__.c, Subscription.__table__.c  # type: ignore[attr-defined]
    sg = Signup.__table__.c  # type: ignore[attr-defined]
    live_invitation = (
        sa.exists()
        .where(sg.key_hash == sub.key_hash, sg.list_id == ml.id)
        .where(sg.created_at >= now - lifetime, sg.confirmed_at.is_(None))
    )
    query = (
        sa.select(sub.id, sub.email, sub.key_hash, sub.name, sub.language)
        .add_columns(suppressed(sub.key_hash), live_invitation)
        .join(Subscription.__table__, sn.subscriber_id == sub.id)  # type: ignore[attr-defined]
        .where(sn.list_id == ml.id, sn.status == Status.UNCONFIRMED.value)
        .order_by(sub.id)
    )
    if since is not None:
        query = query.where(sn.created_at >= since)
    result = InviteResult(ml.slug)
    for sid, email, h, name, language, blocked, pending in session.execute(query).all():
        if blocked:
            result.suppressed += 1
            continue
        if pending:
            result.already_invited += 1
            continue
        result.invited.append(email)
        if dry_run:
            continue
        signup = Signup(
            list_id=ml.id,  # type: ignore[arg-type]
            email=email,
            key_hash=h,
            name=name,
            language=language,
            source="invite",
            reason=reason,
            created_at=now,
        )
        session.add(signup)
        session.flush()
        notices.queue_notice(
            session, settings, DeliveryKind.INVITATION, email,
            subscriber_id=sid, signup_id=signup.id, list_id=ml.id,
        )  # fmt: skip
    return result


def remind(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Queue the one reminder of each sign-up due for it, on every list; how many.

    Due: unconfirmed, older than its list's ``remind_after_days`` (0 turns
    reminders off), never reminded, its link still valid, the address not
    suppressed. ``reminded_at`` is set in the same transaction as the queued
    mail, so a second run (or a second process) finds nothing to do.
    """
    now = now or utcnow()
    lifetime = timedelta(days=settings.web.confirm_days)
    sg, ml = Signup.__table__.c, MailingList.__table__.c  # type: ignore[attr-defined]
    days = sa.func.coalesce(ml.remind_after_days, 0)
    rows = session.execute(
        sa.select(sg.id, sg.email, sg.list_id, sg.created_at, ml.remind_after_days)
        .join(MailingList.__table__, ml.id == sg.list_id)  # type: ignore[attr-defined]
        .where(sg.confirmed_at.is_(None), sg.reminded_at.is_(None), days > 0)
        .where(sg.created_at > now - lifetime, ~suppressed(sg.key_hash))
        .order_by(sg.id)
    ).all()
    count = 0
    for signup_id, email, list_id, created, remind_days in rows:
        if created > now - timedelta(days=remind_days):
            continue
        taken = session.execute(
            sa.update(Signup.__table__)  # type: ignore[attr-defined]
            .where(sg.id == signup_id, sg.reminded_at.is_(None))
            .values(reminded_at=now)
        ).rowcount
        if taken != 1:
            continue  # another process reminded it just now
        notices.queue_notice(
            session, settings, DeliveryKind.REMINDER, email, signup_id=signup_id, list_id=list_id
        )
        count += 1
    return count
