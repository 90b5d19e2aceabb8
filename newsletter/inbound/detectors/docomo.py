"""NTT docomo, a Japanese mobile carrier: a bare list of recipients who "did not receive" it.

"The following recipients did not receive this message:" and the
addresses in angle brackets, with no reason. docomo sends it when the
address does not take our mail, mostly because the reader's domain filter
(受信拒否設定) refuses it, so it is judged "filtered" (soft), never hard.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, addresses, one_line, section
from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts

NAME = "docomo"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    block = section(text, "The following recipients did not receive this message:", "Please reply")
    if block is None:
        return []
    rest = text[text.find("Please reply") :] if "Please reply" in text else ""
    reason = one_line(rest.split("\n\n")[0]) if rest else None
    return [Failure.of(a, reason, hint=Reason.FILTERED) for a in addresses(block)]
