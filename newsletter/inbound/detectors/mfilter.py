"""m-FILTER (Digital Arts), a Japanese mail gateway: labelled fields in Japanese.

"このメールは「m-FILTER」が自動的に発行しています。" then ``*宛先アドレス``
(the recipient) and ``*SMTP応答`` (the receiver's reply), each label on
its own line with the value on the next.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, addresses, section
from newsletter.inbound.report import Parts

NAME = "m-filter"


def _after(text: str, label: str) -> str:
    block = section(text, label) or ""
    return next((x.strip() for x in block.splitlines() if x.strip()), "")


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "m-FILTER" not in text:
        return []
    recipients = addresses(_after(text, "*宛先アドレス"))
    reply = _after(text, "*SMTP応答")
    return [Failure.of(r, reply or None) for r in recipients]
