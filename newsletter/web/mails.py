"""Confirmation, invitation, reminder and welcome mails: what the log names, then the bytes.

A queued notice names its sign-up (a confirmation, an invitation, a
reminder) or its subscriber and list (a welcome mail). :func:`confirmation`,
:func:`invitation` and :func:`welcome` read the database and return an
:class:`Outgoing` (the mail's model and whom it goes to), or why it must not
be sent any more (the reason is written to the delivery log as a
``skipped`` delivery's reply). :func:`compose` then renders the model in the
organisation's theme and composes the message through the same
``MessageTemplate`` as a campaign's, outside any database transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns.notices import Claimed
from newsletter.campaigns.tables import DeliveryKind
from newsletter.config import Settings
from newsletter.db.columns import utcnow
from newsletter.message.compose import MailingListInfo, MessageTemplate, Recipient
from newsletter.render.html import Theme
from newsletter.render.mails import (
    ConfirmationMail,
    InvitationMail,
    ReminderMail,
    SubscriptionMail,
    WelcomeMail,
    render_mail,
)
from newsletter.subscribers.eligibility import suppressed
from newsletter.subscribers.tables import MailingList, Signup, Status, Subscriber, Subscription
from newsletter.tokens import confirm_token, unsubscribe_token
from newsletter.web.archive import latest_url
from newsletter.web.pages import Pages
from newsletter.web.welcome import Welcome

GONE = "the person was forgotten before it was sent"


@dataclass(frozen=True)
class Outgoing:
    """A mail about a subscription, decided: the model and its one recipient.

    ``name`` is used only for a subscriber (the welcome mail): a confirmation
    goes to an address a stranger may have typed, with whatever name they
    typed, so it greets nobody by name. ``token`` is the unsubscribe token
    of a mail about a list the recipient is on, else None.
    """

    mail: SubscriptionMail
    address: str
    name: str | None = None
    mailing_list: MailingListInfo | None = None
    token: str | None = None


def _awaiting(session: Session, claimed: Claimed, settings: Settings) -> tuple[Signup, str] | str:
    """The sign-up a confirmation, invitation or reminder is about and the address it goes
    to, or why it is not sent."""
    if claimed.address is None:
        return GONE
    signup = session.get(Signup, claimed.signup_id) if claimed.signup_id is not None else None
    max_age = timedelta(days=settings.web.confirm_days)
    if signup is None or signup.created_at < utcnow() - max_age:
        return "its sign-up expired before it could be sent"
    if signup.confirmed_at is not None:
        return "its sign-up is confirmed already"
    return signup, claimed.address


def confirmation(
    session: Session, claimed: Claimed, settings: Settings, pages: Pages, key: bytes
) -> Outgoing | str:
    """The mail with the confirmation link of the notice's sign-up."""
    awaiting = _awaiting(session, claimed, settings)
    if isinstance(awaiting, str):
        return awaiting
    signup, address = awaiting
    ml = session.get(MailingList, signup.list_id)
    assert ml is not None and signup.id is not None  # a list's deletion cascades to sign-ups
    mail = ConfirmationMail(
        language=pages.language(signup.language, ml.language),
        list_name=ml.name,
        confirm_url=f"{pages.base_url}/confirm/{confirm_token(key, signup.id)}",
        days=settings.web.confirm_days,
    )
    return Outgoing(mail, address)


def invitation(
    session: Session, claimed: Claimed, settings: Settings, pages: Pages, key: bytes
) -> Outgoing | str:
    """An invitation, or the one reminder of a sign-up: its confirmation link, worded for it.

    An invitation says who added the address and why, and what is (not)
    stored until the click; a reminder says it is the only one. The link is
    the sign-up's own confirmation link, so the click is an ordinary
    confirmation (:meth:`newsletter.web.mailer.Outbox.confirm`). An address
    suppressed after the mail was queued gets nothing.
    """
    awaiting = _awaiting(session, claimed, settings)
    if isinstance(awaiting, str):
        return awaiting
    signup, address = awaiting
    if session.execute(sa.select(suppressed(signup.key_hash))).scalar():
        return "the address was suppressed after the invitation was queued"
    ml = session.get(MailingList, signup.list_id)
    assert ml is not None and signup.id is not None  # a list's deletion cascades to sign-ups
    language = pages.language(signup.language, ml.language)
    url = f"{pages.base_url}/confirm/{confirm_token(key, signup.id)}"
    days = settings.web.confirm_days
    org, expire, reason = settings.organisation.name, ml.expire_after_days, signup.reason
    invited = signup.source == "invite"
    mail: SubscriptionMail
    if claimed.kind == DeliveryKind.REMINDER.value:
        mail = ReminderMail(language, ml.name, org, url, days, expire, reason, invited=invited)
    elif invited:
        mail = InvitationMail(language, ml.name, org, url, days, expire, reason)
    else:  # an invitation queued for a form's sign-up: the ordinary confirmation
        mail = ConfirmationMail(language, ml.name, url, days)
    return Outgoing(mail, address)


def welcome(
    session: Session,
    claimed: Claimed,
    pages: Pages,
    key: bytes,
    welcomes: dict[str, Welcome],
) -> Outgoing | str:
    """The list's welcome mail, with its unsubscribe and manage links, to a subscriber."""
    sub = session.get(Subscriber, claimed.subscriber_id) if claimed.subscriber_id else None
    ml = session.get(MailingList, claimed.list_id) if claimed.list_id else None
    if claimed.address is None or sub is None or ml is None or sub.id is None or ml.id is None:
        return GONE if claimed.address is None else "its subscriber or list was deleted"
    subscription = session.get(Subscription, (sub.id, ml.id))
    if subscription is None or subscription.status != Status.CONFIRMED:
        return "no longer subscribed"
    text = welcomes.get(ml.slug)
    if text is None:
        return f"no welcome mail for list {ml.slug} any more"
    mail = WelcomeMail(
        language=pages.language(sub.language, ml.language),
        list_name=ml.name,
        title=text.subject,
        paragraphs=text.paragraphs,
        latest_url=latest_url(session, pages.base_url) if text.latest_issue else None,
    )
    return Outgoing(
        mail,
        claimed.address,
        sub.name,
        MailingListInfo(ml.slug, ml.name),
        unsubscribe_token(key, sub.id, ml.id),
    )


def compose(
    outgoing: Outgoing,
    settings: Settings,
    theme: Theme,
    message_id: str,
    *,
    sign: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """The message's bytes: rendered from the theme, headers as for a campaign's mail."""
    rendered = render_mail(outgoing.mail, settings, theme)
    template = MessageTemplate.build(
        rendered,
        settings,
        outgoing.mailing_list,
        language=rendered.language,
        sign=sign,
        auto_submitted=True,
    )
    return template.compose(
        Recipient(outgoing.address, outgoing.name, outgoing.token or "", message_id)
    )
