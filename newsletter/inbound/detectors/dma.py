"""DragonFly Mail Agent (dma), the small MTA of DragonFly BSD and others.

Its bounce (``bounce.c``) is plain text: "This is the DragonFly Mail Agent
… There was an error delivering your mail to <addr>." followed by the error
paragraph and "Message headers follow." or "Original message follows.".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure
from newsletter.inbound.report import Parts

NAME = "dma"
_ERROR = re.compile(
    r"There was an error delivering your mail to <("
    + ADDRESS
    + r")>\.\s*\n\s*\n(.*?)(?:\n\s*\n|\Z)",
    re.DOTALL,
)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "DragonFly Mail Agent" not in text:
        return []
    return [Failure.of(m.group(1), m.group(2)) for m in _ERROR.finditer(text)]
