"""The formats flufl.bounce (Mailman's detector library) knows, as the fallback detector.

flufl.bounce reads 17 formats that are not RFC 3464 DSNs (qmail, old Exim,
Yahoo, Exchange …). It says which recipients failed, temporarily or
permanently, but not why, so the reason is the reply line that names the
recipient in the message text. Our own detectors run first: each of them
also knows where its format puts the reason.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from newsletter.inbound.detectors.base import Failure, body_text, one_line
from newsletter.inbound.report import Parts

NAME = "flufl.bounce"

# flufl.bounce logs every detector it runs at INFO and a traceback at
# ERROR for a message it cannot read; neither is for our users' terminals.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

_SMTP_LINE = re.compile(r"\b[45]\d\d[ -].*|\b[45]\.\d{1,3}\.\d{1,3}\b.*")


def diagnostic_for(text: str, recipient: str) -> str | None:
    """The SMTP reply that belongs to ``recipient``: on its line or the few after it."""
    lines = text.splitlines()
    low = recipient.lower()
    for i, line in enumerate(lines):
        if low in line.lower():
            for candidate in lines[i : i + 6]:
                m = _SMTP_LINE.search(candidate)
                if m:
                    return one_line(m.group(0))
            # Exim writes the reason indented under the address, without a code.
            after = [x for x in lines[i + 1 : i + 3] if x.strip()]
            if after and after[0][:1].isspace():
                return one_line(after[0])
    for line in lines:
        m = _SMTP_LINE.search(line)
        if m:
            return one_line(m.group(0))
    return None


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on odd input is not our user's problem
        temporary, permanent = frozenset(), frozenset()
    found = {r.decode("ascii", "replace"): True for r in permanent}
    for r in temporary:
        found.setdefault(r.decode("ascii", "replace"), False)
    text = text or body_text(all_parts)
    return [
        Failure.of(r, diagnostic_for(text, r), permanent=perm) for r, perm in sorted(found.items())
    ]
