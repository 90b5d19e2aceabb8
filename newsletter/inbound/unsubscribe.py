"""Unsubscribing by mail: the ``mailto:`` address every message's List-Unsubscribe offers.

The composer writes ``<mailto:ADDRESS?subject=unsubscribe%20TOKEN>``, so a
mail client that honours it sends a message whose Subject is
``unsubscribe TOKEN``; the token is the same one as in the HTTPS link (one
subscriber on one list, HMAC-signed), so a mail from any sender address
unsubscribes exactly that subscription and nothing else, and a forged or
altered token does nothing at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from newsletter.db import database_of
from newsletter.inbound.report import parse, text_of
from newsletter.subscribers.people import unsubscribe
from newsletter.subscribers.tables import MailingList, Subscriber, Subscription
from newsletter.tokens import TokenError, token_key, verify

SUBJECT = re.compile(r"^\s*unsubscribe[\s:]+([A-Za-z0-9-]{10,})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MailUnsubscribe:
    """What an unsubscribe mail did: ``lists`` are the slugs that changed (empty: already out)."""

    subscriber_id: int
    list_id: int
    lists: list[str]


def token_in_subject(subject: str) -> str | None:
    """The token of an ``unsubscribe TOKEN`` subject, unverified, or None."""
    m = SUBJECT.match(subject)
    return m.group(1) if m else None


def unsubscribe_with_token(
    session: Session, subscriber_id: int, list_id: int, *, source: str = "mailto"
) -> list[str]:
    """Unsubscribe one subscriber from the list a verified token names; idempotent.

    A list that no longer exists cannot be left, but the person asked to
    stop getting mail from it: they are unsubscribed from every list then.
    """
    sub = session.get(Subscriber, subscriber_id)
    if sub is None or sub.id is None:
        return []
    ml = session.get(MailingList, list_id) if list_id else None
    detail = "unsubscribe mail (List-Unsubscribe mailto)"
    if ml is None:
        return unsubscribe(session, sub.id, None, source=source, actor="inbound", detail=detail)
    row = session.get(Subscription, (sub.id, ml.id))
    if row is None:
        return []
    return unsubscribe(session, sub.id, ml.slug, source=source, actor="inbound", detail=detail)


def unsubscribe_by_mail(
    session: Session, subject: str | bytes, *, source: str = "mailto"
) -> MailUnsubscribe | None:
    """Act on a mail sent to the List-Unsubscribe address.

    ``subject`` is the message's Subject header, or the whole raw message.
    Returns None, changing nothing, when it carries no valid token.
    """
    if isinstance(subject, bytes):
        subject = text_of(parse(subject).get("Subject"))
    token = token_in_subject(subject)
    if token is None:
        return None
    key = token_key(database_of(session).secret)
    try:
        subscriber_id, list_id = (int(p) for p in verify(key, "unsubscribe", token))
    except (TokenError, ValueError):
        return None
    changed = unsubscribe_with_token(session, subscriber_id, list_id, source=source)
    return MailUnsubscribe(subscriber_id, list_id, changed)
