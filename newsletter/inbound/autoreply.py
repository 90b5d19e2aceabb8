"""Auto-replies (RFC 3834 and the common non-standard markers) and challenge-response mail.

Neither is a bounce: an out-of-office reply says the mailbox works, and a
"please verify you are human" challenge must never be answered by a bulk
sender (answering confirms the list to the challenger's spam filter). Both
are recorded for review and never count towards a score.
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.report import text_of

# Typical out-of-office subjects: en, de, fr, zh (simplified and traditional).
_OOF_SUBJECT = re.compile(
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|"
    r"\bvacation\b|\baway from\b|\bon leave\b|"
    r"abwesenheit|abwesend|automatische antwort|nicht im büro|\burlaub\b|"
    r"réponse automatique|\babsence\b|\babsent\b|"
    r"自动回复|自動回覆|自動回复|不在办公室|休假",
    re.IGNORECASE,
)
_CHALLENGE_SUBJECT = re.compile(
    r"please confirm (?:your|that you)|verify (?:your|that you)|"
    r"confirm (?:your )?(?:e-?mail|message)|"
    r"challenge|sender verification|approve (?:your )?message|\bspam ?arrest\b|\bboxbe\b|"
    r"bitte bestätigen sie ihre (?:nachricht|e-mail)",
    re.IGNORECASE,
)
_PERSON_PREFIX = re.compile(r"\s*(?:re|aw|wg|fwd?|tr|回复|答复)\s*:", re.IGNORECASE)
_CHALLENGE_HEADERS = ("X-Boxbe-Challenge", "X-Challenge", "X-Spamarrest-noauth", "X-TMDA-Confirm")


def challenge_reasons(msg: Message) -> list[str]:
    """Why ``msg`` looks like a challenge-response request (empty when it does not)."""
    for name in _CHALLENGE_HEADERS:
        if msg.get(name) is not None:
            return [f"header {name}"]
    agent = str(msg.get("X-Delivery-Agent") or "")
    if agent.upper().startswith("TMDA"):
        return [f"X-Delivery-Agent: {agent}"]
    subject = text_of(msg.get("Subject"))
    if _CHALLENGE_SUBJECT.search(subject) and _automatic(msg):
        return [f"challenge subject: {subject[:100]}"]
    return []


def _automatic(msg: Message) -> list[str]:
    auto = str(msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return [f"Auto-Submitted: {auto}"]
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(name) is not None:
            return [f"header {name}"]
    precedence = str(msg.get("Precedence") or "").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return [f"Precedence: {precedence}"]
    if msg.get("X-MS-Exchange-Inbox-Rules-Loop") and msg.get("X-Auto-Response-Suppress"):
        return ["Exchange inbox rule reply"]
    return []


def auto_reply_reasons(msg: Message) -> list[str]:
    """Why ``msg`` is an automatic reply (empty when it is not)."""
    reasons = _automatic(msg)
    subject = text_of(msg.get("Subject"))
    # "Re: our vacation photos" is a person writing back: a subject alone
    # makes an auto-reply only when it is not a person's reply or forward.
    if _OOF_SUBJECT.search(subject) and (reasons or not _PERSON_PREFIX.match(subject)):
        reasons.append(f"out-of-office subject: {subject[:100]}")
    return reasons
