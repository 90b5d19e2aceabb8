"""Old Sendmail (V5 and early V8 without DSNs): "Returned mail" with a session transcript.

The notice says "----- Transcript of session follows -----", then lines
such as ``550 <addr>... User unknown`` (or ``<<< 550 …`` after a
``>>> RCPT To:<addr>``), then "----- Unsent message follows -----".
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.detectors.base import ADDRESS, Failure, section
from newsletter.inbound.report import Parts

NAME = "sendmail-v5"
_LINE = re.compile(r"^(?:<<< )?([45]\d\d)[ -]<?(" + ADDRESS + r")>?\.\.\. (.*)$", re.MULTILINE)
_RCPT = re.compile(r"^>>> RCPT To:\s*<(" + ADDRESS + r")>\s*\n<<< ([45]\d\d.*)$", re.MULTILINE)


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    transcript = section(text, "----- Transcript of session follows -----", "----- ")
    if transcript is None or "----- Unsent message follows -----" not in text:
        return []
    found: dict[str, Failure] = {}  # the RCPT exchange has the fuller reply: first
    for m in _RCPT.finditer(transcript):
        permanent = m.group(2)[0] == "5"
        found.setdefault(
            m.group(1).lower(), Failure.of(m.group(1), m.group(2), permanent=permanent)
        )
    for m in _LINE.finditer(transcript):
        reply, permanent = f"{m.group(1)} {m.group(3)}", m.group(1)[0] == "5"
        found.setdefault(m.group(2).lower(), Failure.of(m.group(2), reply, permanent=permanent))
    return list(found.values())
