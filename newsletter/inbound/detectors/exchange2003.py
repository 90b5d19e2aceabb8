"""Microsoft Exchange 2000/2003: "did not reach the following recipient(s)".

Each recipient line is ``addr on <date>``, then indented lines: the
reason ("The recipient name is not recognized"), the MTS-ID, and a
diagnostic such as ``MSEXCH:IMS:… 0 (000C05A6) Unknown Recipient`` or
``<mx.example.org #5.1.1 smtp;550 5.1.1 …>``. The date is not the reason.
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, one_line, section
from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts

NAME = "exchange-2003"
_ENTRY = re.compile(r"^\s*(" + ADDRESS + r") on [^\n]+\n((?:[ \t]+[^\n]*\n?)+)", re.MULTILINE)
_HASH_STATUS = re.compile(r"#([245]\.\d{1,3}\.\d{1,3})\b")
# The MSEXCH:IMS codes of the X.400 side, for notices without an SMTP reply.
_IMS = {
    "000C05A6": Reason.USER_UNKNOWN,
    "000C05A4": Reason.USER_UNKNOWN,
    "000B099C": Reason.HOST_UNKNOWN,
    "000B09AA": Reason.HOST_UNKNOWN,
    "000C0595": Reason.MAILER_ERROR,
    "000D06B5": Reason.MESSAGE_TOO_BIG,
}


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    block = section(text, "did not reach the following recipient(s):")
    if block is None:
        return []
    out = []
    for m in _ENTRY.finditer(block):
        lines = [x.strip() for x in m.group(2).splitlines() if x.strip()]
        reason = next((x for x in lines if not x.startswith("The MTS-ID")), "")
        detail = " ".join(x for x in lines[1:] if not x.startswith("The MTS-ID"))
        code = _HASH_STATUS.search(detail)
        hint = next((r for k, r in _IMS.items() if k in detail), None)
        diagnostic = one_line(f"{reason} {detail}".strip())
        f = Failure.of(m.group(1), diagnostic, hint=hint)
        if code and f.status is None:
            f = Failure(f.recipient, code.group(1)[0] == "5", code.group(1), diagnostic, hint=hint)
        out.append(f)
    return out
