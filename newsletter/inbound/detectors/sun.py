"""Sun Java System / Oracle Communications Messaging Server, text part of its notice.

"Your message cannot be delivered to the following recipients:" then for
each: "Recipient address:", "Reason:", "Diagnostic code:" lines. (When it
sends an RFC 3464 part too, that part is read instead, with its statuses
such as ``5.1.1 (unknown or illegal alias)``.)
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, addresses, labelled, one_line, section
from newsletter.inbound.report import Parts

NAME = "sun-messaging-server"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    block = section(text, "cannot be delivered to the following recipients:")
    if block is None:
        block = section(text, "delivery of your message has been delayed")
        delayed = block is not None
    else:
        delayed = False
    if block is None:
        return []
    out = []
    for entry in block.split("\n\n"):
        recipients = [a for v in labelled(entry, ("Recipient address",)) for a in addresses(v)]
        if not recipients:
            continue
        reason = (labelled(entry, ("Reason",)) or [""])[0]
        code = (labelled(entry, ("Diagnostic code",)) or [""])[0]
        code = code.partition(";")[2] or code
        diagnostic = one_line(f"{code} ({reason})" if code and reason else code or reason)
        out.append(
            Failure.of(recipients[0], diagnostic or None, permanent=not delayed, delayed=delayed)
        )
    return out
