"""Compose one standards-compliant message per recipient from one rendered issue.

The confirmation and welcome mails of the sign-up form are composed here too
(a template for their one recipient), so every kind of mail gets its headers
from :mod:`newsletter.message.headers` through the same code.

The MIME structure, headers and transfer encoding are built once per campaign
run with the stdlib ``email`` package; the result is split at the few
per-recipient placeholders, so composing a recipient's message is a handful
of byte concatenations (well under 100 µs) instead of a MIME build.

Only the To line, the Message-ID, the unsubscribe link (header and footer),
the manage link (footer; the same token) and the greeting name differ
between recipients. Every other byte, every
other URL included, is identical for all of them: no open pixel, no redirect,
no per-recipient link. That is what "no tracking" means here, and
``tests/test_compose.py`` checks it.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP
from email.utils import formataddr
from typing import Protocol

import idna

from newsletter import languages
from newsletter.config import Settings
from newsletter.i18n import get_locale
from newsletter.message import placeholders, qp
from newsletter.message.headers import MailingListInfo as MailingListInfo
from newsletter.message.headers import add_common, feedback_id, list_unsubscribe, one_line
from newsletter.message.headers import sender_domain as sender_domain
from newsletter.message.media import MediaFile, related
from newsletter.message.public import manage_url, unsubscribe_url
from newsletter.transports.base import DotSafe

# Markers used only inside the serialized template. Each says which encoding
# its value needs: raw for headers, QP for the text part, QP of escaped HTML.
_T_UNSUB = "%%T_UNSUBSCRIBE_URL%%"
_T_NAME = "%%T_RECIPIENT_NAME%%"
_M_UNSUB = "%%M_UNSUBSCRIBE_URL%%"
_T_MANAGE = "%%T_MANAGE_URL%%"
_M_MANAGE = "%%M_MANAGE_URL%%"
_M_NAME = "%%M_RECIPIENT_NAME%%"
_T_GREET = "%%T_GREETING%%"
_M_GREET = "%%M_GREETING%%"
_MARKERS = re.compile(rb"%%[TM]_[A-Z_]+%%")


class RenderedIssue(Protocol):
    """What compose needs from ``newsletter.render.Rendered`` (or a rendered subscription mail)."""

    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Recipient:
    """One addressee of one message; ``message_id`` is without angle brackets."""

    address: str
    name: str | None
    unsubscribe_token: str
    message_id: str


def envelope_address(address: str) -> str:
    """``address`` with its domain in ASCII (IDNA 2008), as SMTP and headers carry it.

    Subscriber addresses are stored as email-validator normalises them, with
    the Unicode domain (``anna@bücher.example.org``).
    """
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{idna.encode(domain).decode('ascii')}"


def clean_name(name: str | None) -> str:
    """A display name safe for a header: no control characters, bounded length."""
    if not name:
        return ""
    if name.isprintable():  # the usual name: nothing for the pattern to replace
        return name.strip()[:200]
    return one_line(name)[:200]


class MessageTemplate:
    """A message rendered for nobody yet: ``compose`` fills in one recipient.

    Built with ``MessageTemplate.build``; holds the serialized message as
    literal byte chunks alternating with marker names.
    """

    def __init__(
        self,
        chunks: list[bytes],
        keys: list[str],
        base_url: str,
        mailto: str,
        name_fallback: str,
        sign: Callable[[bytes], bytes] | None,
        greetings: tuple[str, str] = ("{name},", ""),
        *,
        listed: bool = True,
    ):
        self._chunks = chunks
        self._keys = keys
        self._base_url = base_url
        self._mailto = mailto.encode("ascii")
        self._name_fallback = name_fallback
        self._sign = sign
        self._greet_named, self._greet_anonymous = greetings
        self._used = frozenset(keys)
        self._listed = listed
        # The substituted values are quoted-printable, which encodes a leading
        # dot, and the per-recipient headers start with their names; so when
        # the fixed bytes have no line starting with ".", no message does.
        self._dot_safe = not chunks[0].startswith(b".") and not any(b"\n." in c for c in chunks)

    @classmethod
    def build(
        cls,
        rendered: RenderedIssue,
        settings: Settings,
        mailing_list: MailingListInfo | None,
        *,
        # Without a mailing_list (a confirmation mail: its recipient is on no
        # list yet) there are no list headers; a campaign (its uid) adds
        # Feedback-ID; auto_submitted marks a mail sent because of an event.
        campaign: str | None = None,
        auto_submitted: bool = False,
        date: dt.datetime | None = None,
        language: str | None = None,
        name_fallback: str = "",
        sign: Callable[[bytes], bytes] | None = None,
        images: Sequence[MediaFile] = (),
    ) -> MessageTemplate:
        """Assemble headers and both parts once; ``sign`` is e.g. a ``DkimSigner``.

        ``images`` are the files the HTML names as ``cid:`` (``[media] mode =
        "inline"``): the HTML part and they become one ``multipart/related``.
        """
        org = settings.organisation
        mailto = settings.delivery.unsubscribe_mailto or org.sender_email
        # "=_" can never occur in quoted-printable text, so the boundary is safe.
        msg = MIMEMultipart("alternative", boundary=f"=_{secrets.token_hex(12)}", policy=SMTP)
        feedback = None
        if campaign is not None and mailing_list is not None:
            feedback = feedback_id(settings, campaign, mailing_list.slug)
        add_common(
            msg,
            settings,
            rendered.subject,
            date=date,
            language=language,
            mailing_list=mailing_list,
            feedback=feedback,
            auto_submitted=auto_submitted,
        )
        text_markers = {
            placeholders.UNSUBSCRIBE_URL: _T_UNSUB,
            placeholders.MANAGE_URL: _T_MANAGE,
            placeholders.RECIPIENT_NAME: _T_NAME,
            placeholders.GREETING: _T_GREET,
        }
        html_markers = {
            placeholders.UNSUBSCRIBE_URL: _M_UNSUB,
            placeholders.MANAGE_URL: _M_MANAGE,
            placeholders.RECIPIENT_NAME: _M_NAME,
            placeholders.GREETING: _M_GREET,
        }
        msg.attach(_qp_part("plain", rendered.text, text_markers))
        html_part = _qp_part("html", rendered.html, html_markers)
        msg.attach(related(html_part, images) if images else html_part)
        data = msg.as_bytes()
        pieces = _MARKERS.split(data)
        keys = [m.decode("ascii") for m in _MARKERS.findall(data)]
        loc = get_locale(language if language and languages.resolve(language) else org.language)
        return cls(
            pieces,
            keys,
            settings.delivery.base_url.rstrip("/"),
            mailto,
            name_fallback,
            sign,
            (loc["greeting_named"], loc["greeting_anonymous"]),
            listed=mailing_list is not None,
        )

    def compose(self, recipient: Recipient) -> bytes:
        """The complete message for one recipient, CRLF line ends, ready for SMTP."""
        token = recipient.unsubscribe_token
        url = unsubscribe_url(self._base_url, token)
        name = clean_name(recipient.name)
        # Quoted-printable encoding is the per-recipient cost that matters, so
        # only the markers this issue's templates actually use are encoded.
        used = self._used
        values: dict[str, bytes] = {}
        if _T_UNSUB in used:
            values[_T_UNSUB] = _encoded(url)
        if _M_UNSUB in used:
            values[_M_UNSUB] = _encoded(html_lib.escape(url))
        if len(values) < len(used):
            manage = manage_url(self._base_url, token)
            shown = name or self._name_fallback
            greeting = self._greet_named.format(name=name) if name else self._greet_anonymous
            for key, raw in (
                (_T_MANAGE, manage),
                (_M_MANAGE, html_lib.escape(manage)),
                (_T_NAME, shown),
                (_T_GREET, greeting),
                (_M_NAME, html_lib.escape(shown)),
                (_M_GREET, html_lib.escape(greeting)),
            ):
                if key in used:
                    values[key] = _encoded(raw)
        # The per-recipient headers lead; the stdlib built and folded the rest.
        # They are ASCII by construction (ids, tokens, URLs) except To.
        out = [
            _to_line(name, recipient.address),
            b"Message-ID: <%s>\r\n" % recipient.message_id.encode("ascii"),
        ]
        if self._listed:
            out.append(list_unsubscribe(url.encode("ascii"), self._mailto, token.encode("ascii")))
        chunks = self._chunks
        for i, key in enumerate(self._keys):
            out.append(chunks[i])
            out.append(values[key])
        out.append(chunks[-1])
        data = b"".join(out)
        if self._sign:
            unsigned = len(data)
            data = self._sign(data)
            head = data[: len(data) - unsigned]  # the header fields the signer added
            if head.startswith(b".") or b"\n." in head:
                return data
        return DotSafe(data) if self._dot_safe else data


_STANDIN = "to@example.invalid"
# What makes formataddr quote a display name (email.utils' own set).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def _encoded(value: str) -> bytes:
    return qp.encode_value(value).encode("ascii")


def _to_line(name: str, address: str) -> bytes:
    """The To header: fast for the usual names, stdlib folding for long non-ASCII ones."""
    address = envelope_address(address)
    if not address.isascii():
        # A UTF-8 mailbox name (RFC 6532, sent only over SMTPUTF8): the email
        # package refuses one, so fold for an ASCII stand-in and swap it in.
        head, _, tail = _to_line(name, _STANDIN).rpartition(_STANDIN.encode("ascii"))
        return head + address.encode("utf-8") + tail
    if not name:
        return b"To: %s\r\n" % address.encode("ascii")
    if name.isascii() and not _SPECIALS.search(name):
        return b"To: %s <%s>\r\n" % (name.encode("ascii"), address.encode("ascii"))
    value = formataddr((name, address))
    if value.isascii() and (name.isascii() or len(value) - len(address) <= 78):
        return b"To: %s\r\n" % value.encode("ascii")
    # Several encoded words are needed (RFC 2047 caps each at 75 characters):
    # slow (~0.5 ms) but rare.
    header = SMTP.header_factory("To", Address(display_name=name, addr_spec=address))
    return header.fold(policy=SMTP).encode("utf-8")


def _qp_part(subtype: str, body: str, markers: dict[str, str]) -> EmailMessage:
    """A text part whose payload we encoded ourselves, keeping the markers whole."""
    for placeholder, marker in markers.items():
        body = body.replace(placeholder, marker)
    part = EmailMessage(policy=SMTP)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(qp.encode(body, markers.values()) + "\r\n")
    return part
