"""QQ Mail (Tencent, qq.com): an HTML notice "很抱歉您的邮件没有发送成功" with labelled fields.

"收件人：addr" names the recipient and "退信原因：…" the reason (in
Chinese, often followed by the receiver's SMTP reply); the footer names
"QQ邮箱".
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, labelled_failures
from newsletter.inbound.report import Parts

NAME = "qq-mail"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "QQ邮箱" not in text and "QQ Mail" not in text:
        return []
    return labelled_failures(text, ("收件人", "收信人"), ("退信原因", "失败原因", "原因"))
