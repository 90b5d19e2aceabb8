"""Reading a report message with the stdlib ``email`` package: DSN fields, ARF fields,
and the headers of the message that came back.

RFC 3464 delivery-status reports and RFC 5965 feedback reports are both
``multipart/report`` with a machine-readable part; the original message (or
only its headers) rides along as ``message/rfc822`` or
``text/rfc822-headers``. RFC 6533's internationalised forms
(``message/global-delivery-status``, ``message/global-headers``,
``message/global``), which Postfix sends for an SMTPUTF8 recipient, are read
as their ASCII counterparts with UTF-8 field values. Nothing here decides
anything: it only reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.policy import compat32

_PARSER = BytesParser(policy=compat32)
_HEADERS = HeaderParser()
_BYTES_HEADERS = BytesHeaderParser()


@dataclass(frozen=True)
class Failed:
    """One per-recipient block of a DSN."""

    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str | None
    diagnostic: str | None


# RFC 6533 types → the RFC 3464 ones the stdlib parser knows how to split.
_GLOBAL = re.compile(
    rb"(?im)^(content-type:[ \t]*)message/global(-delivery-status|-headers)?(?=[ \t;\r\n])"
)
_GLOBAL_AS = {
    b"-delivery-status": b"message/delivery-status",
    b"-headers": b"text/rfc822-headers",
    None: b"message/rfc822",
}
_XTEXT_UTF8 = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def parse(raw: bytes) -> Message:
    """The message as the tolerant compat32 parser reads it (it never raises on bad MIME)."""
    if b"message/global" in raw.lower():
        raw = _GLOBAL.sub(lambda m: m[1] + _GLOBAL_AS[m[2] and m[2].lower()], raw)
    return _PARSER.parsebytes(raw)


def field(block: Message, name: str) -> str | None:
    """A header field as sent, UTF-8 decoded (RFC 6533 fields are UTF-8; compat32 mangles them)."""
    low = name.lower()
    for key, value in block.raw_items():
        if key.lower() == low:
            text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            # utf-8-addr-xtext (RFC 6533 section 3): "m\x{FC}ller@example.org"
            return _XTEXT_UTF8.sub(lambda m: chr(int(m[1], 16)), text)
    return None


def text_of(value: object) -> str:
    """A header value as text, encoded words decoded, never raising."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def _address(field: str | None) -> str:
    """``rfc822; anna@example.org`` → ``anna@example.org``."""
    if not field:
        return ""
    kind, sep, rest = field.partition(";")
    value = rest if sep else kind
    return value.strip().strip("<>").strip()


Parts = list[tuple[str, Message]]
"""Every part of a message with its content type, read once (parsing Content-Type is not free)."""


def parts(msg: Message) -> Parts:
    """Every part of ``msg`` with its type, tolerant of a multipart whose payload is not a list."""
    out = [(msg.get_content_type(), msg)]
    payload = msg.get_payload()
    if isinstance(payload, list):
        for p in payload:
            if isinstance(p, Message):
                out.extend(parts(p))
    return out


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` or ``feedback-report`` part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    # A part the parser left as text (bad line endings, a body-less block):
    # the fields are header blocks separated by blank lines.
    text = payload if isinstance(payload, str) else ""
    text = text.replace("\r\n", "\n")
    return [_HEADERS.parsestr(chunk) for chunk in text.split("\n\n") if chunk.strip()]


def delivery_status(all_parts: Parts) -> list[Failed] | None:
    """The per-recipient blocks of every DSN part, or None when there is no DSN part.

    ``all_parts`` is :func:`parts` of the message (computed once per message).
    """
    found: list[Failed] | None = None
    for ctype, part in all_parts:
        if ctype != "message/delivery-status":
            continue
        found = found if found is not None else []
        for block in _blocks(part):
            action = (field(block, "Action") or "").strip().lower()
            if not action:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            recipient = _address(field(block, "Original-Recipient")) or _address(
                field(block, "Final-Recipient")
            )
            found.append(
                Failed(
                    recipient,
                    action.split()[0],
                    " ".join((field(block, "Status") or "").split()) or None,
                    " ".join((field(block, "Diagnostic-Code") or "").split()) or None,
                )
            )
    return found


def feedback_report(all_parts: Parts) -> Message | None:
    """The fields of an ARF ``message/feedback-report`` part, or None."""
    for ctype, part in all_parts:
        if ctype == "message/feedback-report":
            blocks = _blocks(part)
            merged = Message()
            for block in blocks:
                for k, v in block.items():
                    merged[k] = v
            return merged
    return None


def returned_headers(all_parts: Parts) -> Message | None:
    """The headers of the message a report returns (``message/rfc822`` or headers only)."""
    for ctype, part in all_parts[1:]:
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return _HEADERS.parsestr(payload)
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return _BYTES_HEADERS.parsebytes(raw)
    return None
