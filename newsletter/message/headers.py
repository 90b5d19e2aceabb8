"""The header fields every kind of mail carries, written in one place.

A campaign message and a mail about a subscription (confirmation, welcome …)
are both built by :class:`newsletter.message.compose.MessageTemplate`, which
takes its headers from here, so the two cannot drift apart again (the
welcome mail once lost ``Content-Language`` to ``set_content()`` and had its
``List-Unsubscribe`` folded into RFC 2047 encoded words).

``List-Unsubscribe`` is written as raw bytes, never by the ``email``
package: RFC 2369 receivers parse the angle brackets, and an encoded word
(``=?utf-8?q?=3Cmailto…?=``) hides the ``mailto:`` URI from them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import format_datetime, formataddr

import idna

from newsletter.config import Settings

# Control characters and everything str.splitlines() breaks at: the email
# package refuses them in headers (a ValueError at send time) or folds there.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
ONE_CLICK = "List-Unsubscribe=One-Click"
FEEDBACK_SENDER = "newsletter"  # Feedback-ID's SenderId: this tool's mail stream


def one_line(text: str) -> str:
    """``text`` for a header: line breaks and other controls become one space."""
    return _CONTROL.sub(" ", text).strip()


def sender_domain(settings: Settings) -> str:
    """The domain of the From address: Message-IDs, List-Id and DKIM live there."""
    return settings.organisation.sender_email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class MailingListInfo:
    """The list a mail is about, for ``List-Id`` (RFC 2919)."""

    slug: str
    name: str


def feedback_id(settings: Settings, campaign: str, list_slug: str) -> str:
    """``campaign:list:organisation:sender-id``, Gmail's feedback-loop format (``a:b:c:SenderId``).

    Gmail's Postmaster Tools report complaint rates per value of each field.
    The organisation is the From domain (in ASCII), which names it in every
    message already; the sender id, which Gmail wants stable across all of a
    sender's mail and 5-15 characters long, is :data:`FEEDBACK_SENDER`. No
    field holds a colon (list slugs and campaign uids cannot).
    """
    domain = sender_domain(settings)
    if not domain.isascii():
        domain = idna.encode(domain).decode("ascii")
    return f"{campaign}:{list_slug}:{domain}:{FEEDBACK_SENDER}"


def add_common(
    msg: Message,
    settings: Settings,
    subject: str,
    *,
    date: dt.datetime | None,
    language: str | None,
    mailing_list: MailingListInfo | None,
    feedback: str | None = None,
    auto_submitted: bool = False,
) -> None:
    """The headers that are the same for every recipient of ``msg``.

    A mail about a list carries ``List-Id`` and ``List-Unsubscribe-Post``
    (its ``List-Unsubscribe`` is per recipient: :func:`list_unsubscribe`);
    a mail to someone who has not subscribed (a confirmation) carries none.
    ``auto_submitted`` marks a mail a machine sent because of an event
    (RFC 3834), so vacation responders stay quiet.
    """
    org = settings.organisation
    msg["From"] = formataddr((one_line(org.sender_name), org.sender_email))
    if org.reply_to:
        msg["Reply-To"] = org.reply_to
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    if mailing_list is not None:
        domain = sender_domain(settings)
        msg["List-Id"] = formataddr((one_line(mailing_list.name), f"{mailing_list.slug}.{domain}"))
        msg["List-Unsubscribe-Post"] = ONE_CLICK
    if feedback:
        msg["Feedback-ID"] = feedback
    if auto_submitted:
        msg["Auto-Submitted"] = "auto-generated"
    if language:
        msg["Content-Language"] = language


def list_unsubscribe(url: bytes, mailto: bytes, token: bytes) -> bytes:
    """The ``List-Unsubscribe`` field: the https and the mailto URI, each in angle brackets.

    Folded after the comma, the only place RFC 2369 allows whitespace.
    """
    return b"List-Unsubscribe: <%s>,\r\n <mailto:%s?subject=unsubscribe%%20%s>\r\n" % (
        url,
        mailto,
        token,
    )
