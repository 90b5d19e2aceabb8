"""A mail to one person about their subscription: the confirmation and the welcome mail.

Unlike a campaign message these are built whole for one recipient (there is
only one), with the stdlib ``email`` package, and carry
``Auto-Submitted: auto-generated`` (RFC 3834) so vacation responders stay
quiet. A welcome mail goes to a subscriber and so carries the same
``List-Unsubscribe`` headers as the newsletter; a confirmation mail does
not, because its recipient has not subscribed to anything yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from newsletter.config import Settings
from newsletter.message.compose import clean_name, envelope_address, one_line


@dataclass(frozen=True)
class Notice:
    """What to say: subject, plain text and HTML, and the list's unsubscribe link if any."""

    subject: str
    text: str
    html: str
    language: str
    unsubscribe_url: str | None = None
    list_id: str | None = None  # ``List-Id`` value, e.g. ``ISA <isa-de.example.org>``


def compose_notice(
    settings: Settings,
    notice: Notice,
    to: str,
    name: str | None,
    message_id: str,
    *,
    sign: Callable[[bytes], bytes] | None = None,
    date: dt.datetime | None = None,
) -> bytes:
    """The complete message, CRLF line ends; ``message_id`` without angle brackets."""
    org = settings.organisation
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((one_line(org.sender_name), org.sender_email))
    if org.reply_to:
        msg["Reply-To"] = org.reply_to
    # The recipient's name is not used: a stranger may have typed it into the form.
    msg["To"] = envelope_address(to) if name is None else formataddr((clean_name(name), to))
    msg["Subject"] = one_line(notice.subject)
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = f"<{message_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    if notice.list_id:
        msg["List-Id"] = notice.list_id
    if notice.unsubscribe_url:
        mailto = settings.delivery.unsubscribe_mailto or org.sender_email
        token = notice.unsubscribe_url.rpartition("/")[2]
        msg["List-Unsubscribe"] = (
            f"<{notice.unsubscribe_url}>, <mailto:{mailto}?subject=unsubscribe%20{token}>"
        )
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(notice.text, charset="utf-8", cte="quoted-printable")
    msg.add_alternative(notice.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the body: set_content() moves every Content-* header into the first part, where
    # the language of the whole message was lost before.
    msg["Content-Language"] = notice.language
    data = msg.as_bytes()
    return sign(data) if sign else data
