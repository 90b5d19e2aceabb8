"""Amazon WorkMail: a plain-text notice with the DSN fields inline under "Technical report:".

Marked ``X-Mailer: Amazon WorkMail``; the human part lists the recipients
under "Delivery has failed to these recipients or groups:", and the
"Technical report:" block repeats RFC 3464 fields (Final-Recipient,
Action, Status, Diagnostic-Code) as text instead of a delivery-status part.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.detectors.base import Failure, labelled, one_line, section
from newsletter.inbound.report import Parts

NAME = "amazon-workmail"


def detect(msg: Message, all_parts: Parts, text: str) -> list[Failure]:
    mailer = f"{msg.get('X-Mailer', '')} {msg.get('X-Original-Mailer', '')}"
    if "Amazon WorkMail" not in mailer:
        return []
    report = section(text, "Technical report:")
    if report is None:
        return []
    out = []
    for block in report.split("\n\n"):
        recipients = labelled(block, ("Final-Recipient",))
        if not recipients:
            continue
        recipient = recipients[0].partition(";")[2] or recipients[0]
        action = (labelled(block, ("Action",)) or ["failed"])[0].lower()
        status = next(iter(labelled(block, ("Status",))), None)
        diagnostic = next(iter(labelled(block, ("Diagnostic-Code",))), None)
        if diagnostic:
            diagnostic = one_line(diagnostic.partition(";")[2] or diagnostic)
        out.append(
            Failure(
                recipient.strip().strip("<>").lower(),
                action == "failed",
                status,
                diagnostic,
                delayed=action == "delayed",
            )
        )
    return out
