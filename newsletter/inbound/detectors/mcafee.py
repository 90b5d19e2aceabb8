"""McAfee Email Gateway (and the appliances built on it): "delivery problems" in plain text.

Marked ``X-NAI-Header`` (or an MFE/McAfee From); the body says "--- The
following addresses had delivery problems ---" and lists each address in
angle brackets with the reason in parentheses after it.
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, section
from newsletter.inbound.report import Parts

NAME = "mcafee"
_ENTRY = re.compile(r"^\s*<(" + ADDRESS + r")>\s+\((.*?)\)\s*$", re.MULTILINE | re.DOTALL)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    block = section(text, "--- The following addresses had delivery problems ---", "\n\n\n")
    if block is None:
        return []
    return [Failure.of(m.group(1), m.group(2)) for m in _ENTRY.finditer(block)]
