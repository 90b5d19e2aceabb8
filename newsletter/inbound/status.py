"""Enhanced status codes (RFC 3463) and reply texts → hard, soft, or a block of our message.

The one place that decides whether a failure means "this mailbox is gone"
(suppress) or "try again / not the address's fault" (score, or nothing).
A spam or policy block is about *our* message or our server's reputation,
not the address: suppressing on it would punish the reader for our problem,
so it is soft and never scored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([245])\d\d[ -]")

# 5.1.1 bad mailbox, 5.1.2 bad system, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10
# null MX (RFC 7505), 5.2.1 disabled, 5.4.4 unable to route.
_HARD_CODES = {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.4.4"}
_HARD_TEXT = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)|does not exist|"
    r"doesn't exist|mailbox (?:unavailable|not found|disabled)|recipient (?:address )?rejected|"
    r"unknown (?:recipient|mailbox|address)|invalid (?:recipient|mailbox|address)|"
    r"account (?:has been )?disabled|address not found|no mailbox|not a valid mailbox|"
    r"unrouteable address|recipient not found|doesn't have an? \S+ account|"
    r"empfänger unbekannt|unbekannter empfänger|existiert nicht",
    re.IGNORECASE,
)
_FULL_TEXT = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?storage|"
    r"insufficient (?:system )?storage|postfach (?:ist )?voll",
    re.IGNORECASE,
)
_BLOCK_TEXT = re.compile(
    r"\bspam\b|blocked|block ?list|blacklist|denylist|\bpolicy\b|reputation|"
    r"rejected (?:due to|for) (?:content|policy)|message content|\bdmarc\b|\bspf\b|\bdkim\b|"
    r"rate limit|too many",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """``kind`` is hard or soft; ``scored`` is False for a block of our own message."""

    kind: str
    scored: bool
    reason: str


def status_code(text: str | None) -> str | None:
    """The first enhanced status code in ``text`` (``5.1.1``), or None."""
    m = _CODE.search(text or "")
    return ".".join(m.groups()) if m else None


def judge(status: str | None, diagnostic: str | None, *, permanent: bool) -> Verdict:
    """Map a failure to a verdict; ``permanent`` is what the report said (Action: failed).

    The status code wins over the text when both are there, except that a
    spam or policy phrase always makes it a block: servers commonly reject
    spam with 5.1.x or a bare 550, and suppressing then would be wrong.
    """
    text = diagnostic or ""
    status = status or status_code(text)
    if status is None:
        m = _REPLY.search(text)
        if m:
            permanent = m.group(1) == "5"
    if (status and status.startswith("5.7")) or _BLOCK_TEXT.search(text):
        return Verdict("soft", False, f"spam or policy block of our message ({status or 'text'})")
    if status == "5.2.2" or _FULL_TEXT.search(text):
        return Verdict("soft", True, f"mailbox full ({status or 'text'})")
    if (status and status[0] == "4") or not permanent:
        return Verdict("soft", True, f"temporary failure ({status or 'text'})")
    if status in _HARD_CODES:
        return Verdict("hard", True, f"mailbox does not exist or is disabled ({status})")
    if _HARD_TEXT.search(text):
        return Verdict("hard", True, f"mailbox does not exist ({status or 'reply text'})")
    return Verdict("soft", True, f"permanent failure of unclear cause ({status or 'no code'})")
