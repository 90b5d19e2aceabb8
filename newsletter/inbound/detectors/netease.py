"""NetEase Mail (163.com, 126.com, yeah.net): "系统退信" / "抱歉，您的邮件被退回来了……".

Under "原邮件信息：" the fields "收件人：" and "退信原因：" (with the
remote server's reply on the next line, e.g. ``550 User not found``);
the footer names "网易邮箱".
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, labelled_failures
from newsletter.inbound.report import Parts

NAME = "netease"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "您的邮件被退回来了" not in text and "网易邮箱" not in text:
        return []
    return labelled_failures(text, ("收件人", "收 件 人"), ("退信原因", "原因"))
