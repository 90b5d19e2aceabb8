"""Apache James: "Hi. This is the James mail server at …".

"Failed recipient(s):" lists the addresses, "Error message:" the reply.
"This is a permanent error; I've given up." or "This is a temporary
error" says whether it will try again.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, addresses, one_line, section
from newsletter.inbound.report import Parts

NAME = "apache-james"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "This is the James mail server" not in text:
        return []
    recipients = addresses(section(text, "Failed recipient(s):", "Error message:") or "")
    error = section(text, "Error message:") or ""
    reply = one_line(error.split("\n\n")[0]) if error.strip() else None
    permanent = "temporary error" not in text
    return [Failure.of(r, reply, permanent=permanent) for r in recipients]
