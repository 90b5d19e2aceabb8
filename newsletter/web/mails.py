"""Confirmation, invitation, reminder and welcome mails, composed at sending from the log.

A queued notice names its sign-up (a confirmation) or its subscriber and
list (a welcome mail); the text comes from the theme's ``web/mail/``
templates in the person's language. Each function returns the
:class:`Notice`, or why it must not be sent any more (the reason is written
to the delivery log as a ``skipped`` delivery's reply).
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import formataddr

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns.notices import Claimed
from newsletter.campaigns.tables import DeliveryKind
from newsletter.config import Settings
from newsletter.db.columns import utcnow
from newsletter.message.compose import sender_domain
from newsletter.message.notice import Notice
from newsletter.message.public import manage_url, unsubscribe_url
from newsletter.subscribers.eligibility import suppressed
from newsletter.subscribers.tables import MailingList, Signup, Status, Subscriber, Subscription
from newsletter.tokens import confirm_token, unsubscribe_token
from newsletter.web.archive import latest_url
from newsletter.web.pages import Pages, web_strings
from newsletter.web.welcome import Welcome

GONE = "the person was forgotten before it was sent"


def confirmation(
    session: Session, claimed: Claimed, settings: Settings, pages: Pages, key: bytes
) -> Notice | str:
    """The mail with the confirmation link of the notice's sign-up."""
    if claimed.address is None:
        return GONE
    signup = session.get(Signup, claimed.signup_id) if claimed.signup_id is not None else None
    max_age = timedelta(days=settings.web.confirm_days)
    if signup is None or signup.created_at < utcnow() - max_age:
        return "its sign-up expired before it could be sent"
    if signup.confirmed_at is not None:
        return "its sign-up is confirmed already"
    ml = session.get(MailingList, signup.list_id)
    assert ml is not None and signup.id is not None  # a list's deletion cascades to sign-ups
    lang = pages.language(signup.language, ml.language)
    t = web_strings(lang)
    subject = t["confirm_mail_subject"].format(list=ml.name)
    context = {
        "subject": subject,
        "list_name": ml.name,
        "confirm_url": f"{pages.base_url}/confirm/{confirm_token(key, signup.id)}",
        "days": settings.web.confirm_days,
    }
    return Notice(
        subject,
        pages.render("mail/confirm.txt.j2", lang, **context),
        pages.render("mail/confirm.html.j2", lang, **context),
        lang,
    )


def welcome(
    session: Session,
    claimed: Claimed,
    settings: Settings,
    pages: Pages,
    key: bytes,
    welcomes: dict[str, Welcome],
) -> Notice | str:
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
    latest = latest_url(session, pages.base_url) if text.latest_issue else None
    lang = pages.language(sub.language, ml.language)
    token = unsubscribe_token(key, sub.id, ml.id)
    context = {
        "subject": text.subject,
        "name": sub.name,
        "paragraphs": text.paragraphs,
        "latest_url": latest,
        "unsubscribe_url": unsubscribe_url(pages.base_url, token),
        "manage_url": manage_url(pages.base_url, token),
    }
    return Notice(
        text.subject,
        pages.render("mail/welcome.txt.j2", lang, **context),
        pages.render("mail/welcome.html.j2", lang, **context),
        lang,
        unsubscribe_url=context["unsubscribe_url"],
        list_id=formataddr((ml.name, f"{ml.slug}.{sender_domain(settings)}")),
    )


def invitation(
    session: Session, claimed: Claimed, settings: Settings, pages: Pages, key: bytes
) -> Notice | str:
    """An invitation, or the one reminder of a sign-up: its confirmation link, worded for it.

    An invitation says who added the address and why, and what is (not)
    stored until the click; a reminder says it is the only one. The link is
    the sign-up's own confirmation link, so the click is an ordinary
    confirmation (:meth:`newsletter.web.mailer.Outbox.confirm`).
    """
    if claimed.address is None:
        return GONE
    signup = session.get(Signup, claimed.signup_id) if claimed.signup_id is not None else None
    max_age = timedelta(days=settings.web.confirm_days)
    if signup is None or signup.created_at < utcnow() - max_age:
        return "its sign-up expired before it could be sent"
    if signup.confirmed_at is not None:
        return "its sign-up is confirmed already"
    if session.execute(sa.select(suppressed(signup.key_hash))).scalar():
        return "the address was suppressed after the invitation was queued"
    ml = session.get(MailingList, signup.list_id)
    assert ml is not None and signup.id is not None  # a list's deletion cascades to sign-ups
    lang = pages.language(signup.language, ml.language)
    t = web_strings(lang)
    org = settings.organisation.name
    invited = signup.source == "invite"
    lead = [t["invite_mail_text"].format(org=org, list=ml.name)] if invited else []
    if invited and signup.reason:
        lead.append(t["invite_mail_reason"].format(reason=signup.reason))
    if claimed.kind == DeliveryKind.REMINDER.value:
        subject = t["reminder_mail_subject"].format(list=ml.name)
        lead.insert(0, t["reminder_mail_text"].format(list=ml.name))
    elif invited:
        subject = t["invite_mail_subject"].format(org=org, list=ml.name)
    else:
        subject = t["confirm_mail_subject"].format(list=ml.name)
    lead.append(t["invite_mail_ask"] if invited else t["confirm_mail_text"].format(list=ml.name))
    tail = [t["confirm_mail_expiry"].format(days=settings.web.confirm_days)]
    tail.append(
        t["invite_mail_stored"].format(org=org, expire=ml.expire_after_days)
        if invited
        else t["confirm_mail_ignore"]
    )
    context = {
        "subject": subject,
        "lead": lead,
        "tail": tail,
        "button": t["invite_mail_button"] if invited else t["confirm_button"],
        "confirm_url": f"{pages.base_url}/confirm/{confirm_token(key, signup.id)}",
    }
    return Notice(
        subject,
        pages.render("mail/invite.txt.j2", lang, **context),
        pages.render("mail/invite.html.j2", lang, **context),
        lang,
    )
