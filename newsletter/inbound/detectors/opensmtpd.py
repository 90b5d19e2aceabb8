"""OpenSMTPD's plain-text notice (before it sent RFC 3464 reports).

"This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail." then
"…for the following list of recipients:" and one ``addr: reply`` line each;
the subject ends in "error" or, for a delay warning, "delay".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, section, subject
from newsletter.inbound.report import Parts

NAME = "opensmtpd"
_LINE = re.compile(r"^\s*<?(" + ADDRESS + r")>?:\s*(.+)$", re.MULTILINE)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "This is the MAILER-DAEMON, please DO NOT REPLY" not in text:
        return []
    block = section(text, "following list of recipients:", "Below is a copy") or ""
    delayed = subject(msg).lower().rstrip().endswith("delay")
    return [
        Failure.of(m.group(1), m.group(2), permanent=not delayed, delayed=delayed)
        for m in _LINE.finditer(block)
    ]
