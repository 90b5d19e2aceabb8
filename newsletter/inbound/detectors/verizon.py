"""Verizon Wireless (vtext / vzwpix gateways): "Message could not be delivered to mobile."

An ``Error:`` line gives the reason ("No valid recipients for this MM",
"Invalid recipient"); the recipient is the ``To:`` of the original message
quoted under "Original Message".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import Failure, addresses, section
from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts

NAME = "verizon"
_ERROR = re.compile(r"^Error:\s*(.+)$", re.MULTILINE)
_TO = re.compile(r"^To:\s*(.+)$", re.MULTILINE)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "could not be delivered to mobile" not in text.lower():
        return []
    error = _ERROR.search(text)
    original = section(text, "Original Message") or ""
    to = _TO.search(original)
    if to is None:
        return []
    reason = error.group(1).strip() if error else "could not be delivered to mobile"
    low = reason.lower()
    hint = (
        Reason.USER_UNKNOWN if "no valid recipient" in low or "invalid recipient" in low else None
    )
    return [Failure.of(a, reason, hint=hint) for a in addresses(to.group(1))]
