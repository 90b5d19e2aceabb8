"""Double opt-in: a sign-up becomes a subscription only when its confirmation link is clicked.

:func:`add_request` stores a sign-up form post as it came, at the same cost
for every address. :func:`request_signup` later decides what a sign-up form
(or the undo button of a double opt-in list) leads to, and records a pending
:class:`Signup` when a confirmation mail has to go out; :func:`confirm_signup`
turns it into a confirmed subscription. Nothing here answers the person who filled in the
form: the web answers everyone alike, whatever was decided here, so the form
cannot be used to find out who is subscribed.

A suppressed address (it unsubscribed, bounced, complained or was
forgotten) gets a confirmation mail like anyone else, and only the click
lifts the suppression; an address an administrator blocked (``manual``)
gets nothing. At most ``per_day`` confirmation mails go to one address in 24
hours, so the form cannot be used to mail-bomb someone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import key_hash
from newsletter.db.columns import utcnow
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.fields import check_name, check_timezone
from newsletter.subscribers.lists import check_language, get_list
from newsletter.subscribers.people import add_subscriber
from newsletter.subscribers.suppressions import suppression_for, unsuppress
from newsletter.subscribers.tables import (
    MailingList,
    Reason,
    Signup,
    SignupRequest,
    Status,
    Subscriber,
    Subscription,
)
from newsletter.tokens import TokenError

ACTOR = "subscriber"


class Decision(StrEnum):
    CONFIRM = "confirm"  # a confirmation mail goes out
    SUBSCRIBED = "subscribed"  # a single opt-in list: subscribed at once
    NOTHING = "nothing"  # already subscribed, blocked, or over the limit


@dataclass(frozen=True)
class SignupPlan:
    decision: Decision
    signup: Signup | None = None
    subscriber_id: int | None = None
    list_id: int | None = None


def add_request(
    session: Session,
    list_slug: str,
    email: str,
    *,
    name: str | None = None,
    language: str | None = None,
    source: str = "form",
    timezone: str | None = None,
) -> None:
    """Keep a sign-up post for :func:`request_signup`: one insert, whoever the address is.

    Nothing here reads what the database knows of the address or the list, so
    the post costs the same for a new, a subscribed and a suppressed address.
    Only the address's syntax is checked (``AddressError``).
    """
    addr = parse_address(email)
    session.add(
        SignupRequest(
            list_slug=list_slug,
            email=addr.email,
            key_hash=key_hash(session, addr.key),
            name=name,
            language=language,
            source=source,
            timezone=timezone,
        )
    )


def waiting_requests(session: Session, limit: int = 50) -> list[SignupRequest]:
    """The oldest sign-up posts not decided yet, first come first served."""
    return list(
        session.exec(select(SignupRequest).order_by(SignupRequest.id).limit(limit)).all()  # type: ignore[arg-type]
    )


def request_signup(
    session: Session,
    list_slug: str,
    email: str,
    *,
    name: str | None = None,
    language: str | None = None,
    per_day: int = 3,
    source: str = "form",
    timezone: str | None = None,
) -> SignupPlan:
    """Decide what a sign-up leads to; raises only for invalid input (address, name)."""
    addr = parse_address(email)
    name = check_name((name or "").strip()) or None
    language = check_language(language or None)
    timezone = check_timezone(timezone)
    ml = get_list(session, list_slug)
    h = key_hash(session, addr.key)
    blocked = suppression_for(session, addr.email)
    if blocked is not None and blocked.reason == Reason.MANUAL:
        return SignupPlan(Decision.NOTHING)
    sub = session.exec(select(Subscriber).where(Subscriber.key == addr.key)).first()
    row = session.get(Subscription, (sub.id, ml.id)) if sub is not None else None
    if blocked is None and row is not None and row.status == Status.CONFIRMED:
        return SignupPlan(Decision.NOTHING)
    if blocked is None and not ml.double_opt_in and source == "form":
        sub = add_subscriber(
            session,
            addr.email,
            [ml.slug],
            name=name,
            # A language stored before is the person's own choice: signing up again keeps it.
            language=(sub.language if sub is not None and sub.language else language),
            timezone=timezone,
            status=Status.CONFIRMED,
            consent_note="web sign-up form (single opt-in list)",
            resubscribe=row is not None,
            source="web",
            actor=ACTOR,
        )
        return SignupPlan(Decision.SUBSCRIBED, subscriber_id=sub.id, list_id=ml.id)
    since = utcnow() - timedelta(days=1)
    sent = session.execute(
        sa.select(sa.func.count())
        .select_from(Signup)
        .where(Signup.key_hash == h, Signup.created_at >= since)  # type: ignore[arg-type]
    ).scalar_one()
    if sent >= per_day:
        return SignupPlan(Decision.NOTHING)
    signup = Signup(
        list_id=ml.id,  # type: ignore[arg-type]
        email=addr.email,
        key_hash=h,
        name=name or (sub.name if sub else None),
        language=(sub.language if sub is not None and sub.language else language),
        source=source,
        timezone=timezone,
    )
    session.add(signup)
    session.flush()
    return SignupPlan(Decision.CONFIRM, signup=signup, list_id=ml.id)


@dataclass(frozen=True)
class Pending:
    """A sign-up a confirmation link points to, as the confirm page shows it."""

    signup: Signup
    mailing_list: MailingList

    @property
    def confirmed(self) -> bool:
        return self.signup.confirmed_at is not None


def pending_signup(session: Session, signup_id: int, *, max_age: timedelta) -> Pending:
    """The sign-up of a confirmation token, or ``TokenError`` when gone or expired."""
    signup = session.get(Signup, signup_id)
    if signup is None or signup.created_at < utcnow() - max_age:
        raise TokenError("invalid or expired link token")
    ml = session.get(MailingList, signup.list_id)
    assert ml is not None  # the list's deletion cascades to its sign-ups
    return Pending(signup, ml)


def confirm_signup(
    session: Session, signup_id: int, *, max_age: timedelta
) -> tuple[Pending, int | None]:
    """Confirm a pending sign-up; idempotent. Returns it and the subscriber id if it was new.

    The conditional update makes a double click confirm once. A suppression
    is lifted here, by the person's own click, and nowhere else in the web.
    """
    pending = pending_signup(session, signup_id, max_age=max_age)
    now = utcnow()
    taken = session.execute(  # type: ignore[attr-defined]
        sa.update(Signup)
        .where(Signup.id == signup_id, Signup.confirmed_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        session.refresh(pending.signup)
        return pending, None
    signup, ml = pending.signup, pending.mailing_list
    blocked = suppression_for(session, signup.email)
    if blocked is not None:
        if blocked.reason == Reason.MANUAL:
            raise TokenError("invalid or expired link token")
        unsuppress(session, signup.email, source="web", actor=ACTOR)
    note = f"double opt-in: clicked the confirmation link mailed {_day(signup)}"
    key = parse_address(signup.email).key
    existing = session.exec(select(Subscriber).where(Subscriber.key == key)).first()
    row = session.get(Subscription, (existing.id, ml.id)) if existing is not None else None
    was = row.status if row is not None else None
    sub = add_subscriber(
        session,
        signup.email,
        [ml.slug],
        name=signup.name,
        language=(existing.language if existing is not None and existing.language else None)
        or signup.language,
        timezone=signup.timezone,
        status=Status.CONFIRMED,
        consent_note=note,
        resubscribe=True,
        source="web",
        actor=ACTOR,
    )
    if was == Status.CONFIRMED:
        # Already on the list (a suppression kept them from mail): the
        # subscription does not change, but the new consent is still proof.
        audit.record(
            session, "confirm", key, source="web", subscriber_id=sub.id,
            list_slug=ml.slug, actor=ACTOR, detail=f"consent: {note}",
        )  # fmt: skip
    session.refresh(signup)
    return pending, sub.id


def _day(signup: Signup) -> str:
    return f"{signup.created_at:%Y-%m-%d %H:%M} UTC"


def purge_signups(session: Session, *, older_than: timedelta) -> int:
    """Delete sign-ups past their confirmation period (and past the one-day count)."""
    cutoff: datetime = utcnow() - max(older_than, timedelta(days=1))
    return session.execute(  # type: ignore[attr-defined]
        sa.delete(Signup).where(Signup.created_at < cutoff)  # type: ignore[arg-type]
    ).rowcount
