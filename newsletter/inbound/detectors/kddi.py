"""KDDI / au (EZweb), a Japanese mobile carrier: "Mail System Error - Returned Mail".

"Your mail sent on: <date>" then "could not be delivered to the following
address:", the address in angle brackets, and one line of reason: "As
their mailbox is full.", "The user(s) account is disabled." or, for an
address that does not exist, "Please check the address and try again.".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure
from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts

NAME = "kddi"
_BLOCK = re.compile(
    r"could not be delivered to the following address:\s*\n\s*<?(" + ADDRESS + r")>?\s*\n\s*(.+)"
)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "Your mail sent on" not in text:
        return []
    out = []
    for m in _BLOCK.finditer(text):
        reason = m.group(2).strip()
        hint = Reason.USER_UNKNOWN if "check the address" in reason.lower() else None
        out.append(Failure.of(m.group(1), reason, hint=hint))
    return out
