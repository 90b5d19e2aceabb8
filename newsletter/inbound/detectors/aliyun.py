"""Alibaba Mail (阿里邮箱, Alibaba Cloud enterprise mail, MX mxhichina): "邮件投递失败".

"很抱歉您发送的邮件被退回" then "收件人：" and "退信原因：" (or the
bilingual "Recipient:" / "Reason:"); the footer names "阿里邮箱" or
"Alibaba Mail".
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, labelled_failures
from newsletter.inbound.report import Parts

NAME = "alibaba-mail"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "阿里邮箱" not in text and "Alibaba Mail" not in text:
        return []
    return labelled_failures(text, ("收件人", "Recipient"), ("退信原因", "失败原因", "Reason"))
