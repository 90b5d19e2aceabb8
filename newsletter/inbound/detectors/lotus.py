"""Lotus Notes / HCL Domino: "DELIVERY FAILURE" with a "Failure Reasons" section.

Two shapes: the router's "------- Failure Reasons --------" block (the
reason, then the recipient) before "------- Returned Message --------",
and the older "Your document: … was not delivered to: <addr> because:
<reason>".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, addresses, section
from newsletter.inbound.report import Parts

NAME = "lotus-notes"
_DOCUMENT = re.compile(
    r"was not delivered to:\s*\n?\s*<?(" + ADDRESS + r")>?\s*\n\s*because:\s*(.+)", re.IGNORECASE
)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    block = section(text, "------- Failure Reasons", "------- Returned Message")
    if block is not None:
        lines = [x.strip() for x in block.splitlines() if x.strip()]
        if not lines:
            return []
        reason = lines[0]
        recipients = [a for x in lines[1:] for a in addresses(x)] or addresses(reason)
        return [Failure.of(r, reason) for r in recipients]
    return [Failure.of(m.group(1), m.group(2)) for m in _DOCUMENT.finditer(text)]
