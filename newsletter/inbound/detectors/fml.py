"""FML, the Japanese mailing-list manager: the list refused a post from a non-member.

Marked ``X-MLServer: fml …``; "You are not a member of this mailing list
<list@…>." The subscriber's address is a list that takes posts only from
its members: the reader's own setting, so "filtered" (soft).
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure
from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts

NAME = "fml"
_NOT_MEMBER = re.compile(r"(You are not a member of this mailing list) <(" + ADDRESS + r")>")
_TOO_BIG = re.compile(r"(Your mail exceeds the (?:mail )?size limit[^\n]*)")


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    if "fml" not in str(msg.get("X-MLServer", "")).lower():
        return []
    m = _NOT_MEMBER.search(text)
    if m:
        return [Failure.of(m.group(2), m.group(1), hint=Reason.FILTERED)]
    big = _TOO_BIG.search(text)
    found = re.search(ADDRESS, str(msg.get("From", "")))  # the list answers from its address
    if big and found:
        return [Failure.of(found.group(0), big.group(1), hint=Reason.MESSAGE_TOO_BIG)]
    return []
