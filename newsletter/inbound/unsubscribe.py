"""Unsubscribing by mail: the ``mailto:`` address every message's List-Unsubscribe offers.

The composer writes ``<mailto:ADDRESS?subject=unsubscribe%20TOKEN>``, so a
mail client that honours it sends a message whose Subject is
``unsubscribe TOKEN``; the token is the same one as in the HTTPS link (one
subscriber on one list, HMAC-signed), so a mail from any sender address
unsubscribes exactly that subscription and nothing else, and a forged or
altered token does nothing at all. The unsubscribing itself is the web's
:func:`~newsletter.subscribers.optout.unsubscribe_by_token`, so a mail and a
one-click POST leave the same rows (source ``mailto``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from newsletter.inbound.report import parse, text_of
from newsletter.subscribers.optout import token_ids, unsubscribe_by_token
from newsletter.tokens import TokenError

SUBJECT = re.compile(r"^\s*unsubscribe[\s:]+([A-Za-z0-9-]{10,})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MailUnsubscribe:
    """What an unsubscribe mail did; ``changed`` is False when they had left already."""

    subscriber_id: int
    list_id: int
    changed: bool


def token_in_subject(subject: str) -> str | None:
    """The token of an ``unsubscribe TOKEN`` subject, unverified, or None."""
    m = SUBJECT.match(subject)
    return m.group(1) if m else None


def unsubscribe_with_token(session: Session, token: str, *, source: str = "mailto") -> bool:
    """Unsubscribe the token's subscriber from its list; False if nothing changed or resolved."""
    try:
        return unsubscribe_by_token(session, token, source=source).changed
    except TokenError:
        return False


def unsubscribe_by_mail(
    session: Session, subject: str | bytes, *, source: str = "mailto"
) -> MailUnsubscribe | None:
    """Act on a mail sent to the List-Unsubscribe address.

    ``subject`` is the message's Subject header, or the whole raw message.
    Returns None, changing nothing, when it carries no token that resolves.
    """
    if isinstance(subject, bytes):
        subject = text_of(parse(subject).get("Subject"))
    token = token_in_subject(subject)
    if token is None:
        return None
    try:
        subscriber_id, list_id = token_ids(session, token)
        left = unsubscribe_by_token(session, token, source=source)
    except TokenError:
        return None
    return MailUnsubscribe(subscriber_id, list_id, left.changed)
