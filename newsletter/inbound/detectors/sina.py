"""Sina Mail (新浪邮箱, sina.com / sina.cn): "您发送到 addr 的邮件被退回".

The recipient is in that sentence (or a "收件人：" field) and the reason in
"退信原因：…"; the footer names "新浪邮箱".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, labelled, labelled_failures
from newsletter.inbound.report import Parts

NAME = "sina"
_SENT_TO = re.compile(r"您发送到\s*<?(" + ADDRESS + r")>?\s*的邮件")


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "新浪邮箱" not in text and "Sina Mail" not in text:
        return []
    found = labelled_failures(text, ("收件人",), ("退信原因", "原因"))
    if found:
        return found
    reason = next(iter(labelled(text, ("退信原因", "原因"))), None)
    return [Failure.of(m.group(1), reason) for m in _SENT_TO.finditer(text)]
