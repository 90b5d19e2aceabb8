"""Tencent Exmail (腾讯企业邮箱, exmail.qq.com): QQ Mail's notice for company domains.

"您发送的邮件无法送达" with "收件人：" and "退信原因：" fields (the latter
often "收件人邮箱不存在" plus the SMTP reply); the footer names
"腾讯企业邮".
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, labelled_failures
from newsletter.inbound.report import Parts

NAME = "tencent-exmail"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "腾讯企业邮" not in text and "Tencent Exmail" not in text:
        return []
    return labelled_failures(text, ("收件人",), ("退信原因", "原因"))
