"""What every transport shares: the outcome of an attempt and how a reply maps to it.

Kept apart from the factory in ``__init__`` so that a transport module and the
package never import each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from newsletter.errors import OperationFailed

SENT = "sent"
DEFERRED = "deferred"
FAILED = "failed"
BOUNCED = "bounced"
# The message was handed over completely but the server's verdict never came
# (a timeout or a drop after the final "."): it may have been accepted, so it
# must not be sent again by default (RFC 1047's duplicate problem).
UNKNOWN = "unknown"

# The reply as received: "550 5.1.1 text", possibly several lines.
_ENHANCED = re.compile(r"^(?:\d{3}[ -])?\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_QUEUE_ID = re.compile(
    r"(?:queued as|queue id|id=|mail accepted|message accepted)\s*[:<]?\s*([A-Za-z0-9._@-]+)",
    re.IGNORECASE,
)
_NO_SUCH_USER = re.compile(r"user unknown|no such user|unknown user|mailbox not found", re.I)


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt, with the server's reply verbatim."""

    status: str
    code: int | None
    reply: str
    queue_id: str | None = None


class DotSafe(bytes):
    """A message in which no line starts with ``.``: SMTP can send it without dot-stuffing.

    Finding every ``\\n.`` in a 56 kB message costs as much as composing it;
    the composer guarantees there is none instead (its quoted-printable
    encodes a leading dot) and says so with this type.
    """

    __slots__ = ()


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and its size: what SMTP needs before the body."""

    sender: str
    recipient: str
    size: int


class TransportUnavailable(OperationFailed):
    """The server could not be reached at all: nothing was sent, retry the run later."""


class Channel(Protocol):
    def send(self, sender: str, recipient: str, data: bytes) -> Outcome: ...

    def close(self) -> None: ...


class Transport(Protocol):
    name: str
    connections: int

    def describe(self) -> str: ...

    def open_channel(self) -> Channel: ...


def classify(code: int, reply: str) -> Outcome:
    """Map an SMTP reply to a delivery status.

    2xx sent; 4xx deferred (the server asks us to retry); 5.1.x (bad
    mailbox, RFC 3463) or an explicit "user unknown" bounced, so the address
    is suppressed; any other 5xx failed, kept for a human to judge.
    """
    if 200 <= code < 300:
        m = _QUEUE_ID.search(reply)
        return Outcome(SENT, code, reply, m.group(1) if m else None)
    if 400 <= code < 500:
        return Outcome(DEFERRED, code, reply)
    enhanced = _ENHANCED.match(reply)
    if enhanced and enhanced.group(1) == "5" and enhanced.group(2) == "1":
        return Outcome(BOUNCED, code, reply)
    if not enhanced and code in (550, 551, 553) and _NO_SUCH_USER.search(reply):
        return Outcome(BOUNCED, code, reply)
    return Outcome(FAILED, code, reply)
