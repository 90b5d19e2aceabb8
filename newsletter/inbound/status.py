"""Enhanced status codes (RFC 3463) and reply texts → a :class:`~newsletter.inbound.reasons.Reason`.

The one place that decides whether a failure means "this mailbox is gone"
(suppress), "try again" (score) or "they refused *our* message" (record
only): the side of each reason is in :mod:`newsletter.inbound.reasons`.
A spam, policy, authentication, rate-limit or block-list refusal is about
our message or our server's reputation, not the address: suppressing on
it would punish the reader for our problem, whatever code it came with
(servers commonly reject spam with 5.1.x or a bare 550).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.inbound.reasons import SIDE, Reason, Side

_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"(?<![\d.])([245])\d\d(?:[ -]|$)")


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


# Refusals of our message, checked before any code: (reason, pattern), in order.
_OURS_TEXT: list[tuple[Reason, re.Pattern[str]]] = [
    (
        Reason.RATE_LIMITED,
        _words(
            r"rate limit",
            r"rate-limit",
            r"ratelimit",
            r"receiving mail at a rate",
            r"too many (?:messages|connections|recipients|mails|emails|concurrent)",
            r"sending rate",
            r"unusual rate",
            r"frequency limit",
            r"(?:sending|daily|hourly|connection) limit exceeded",
            r"exceeded (?:the |your )?(?:sending|daily|hourly|connection|rate) limit",
            r"发送频率",
            r"发信频率",
            r"频率过快",
        ),
    ),
    (
        Reason.BLOCKED,
        _words(
            r"block ?list",
            r"blacklist",
            r"denylist",
            r"\bblocked\b",
            r"spamhaus",
            r"spamcop",
            r"barracuda",
            r"\bdnsbl\b",
            r"\brbl\b",
            r"(?<!not )listed (?:at|on|in|by)\b",
            r"reputation",
            r"\bbanned\b",
        ),
    ),
    (
        Reason.SPAM_DETECTED,
        _words(
            r"\bspam\b",
            r"junk ?mail",
            r"unsolicited",
            r"\bbulk mail",
            r"suspicious",
            r"content (?:filter|rejected|scan)",
            r"垃圾邮件",
            r"垃圾郵件",
            r"迷惑メール",
        ),
    ),
    (
        Reason.SECURITY_ERROR,
        _words(
            r"\bdmarc\b",
            r"\bspf\b",
            r"\bdkim\b",
            r"authenticat",
            r"\btls\b.{0,20}required",
            r"starttls",
            r"not authorized to send",
        ),
    ),
    (
        Reason.POLICY_VIOLATION,
        _words(r"\bpolicy\b", r"rejected (?:due to|for) (?:content|policy)", r"prohibited"),
    ),
    (Reason.SENDER_REJECTED, _words(r"sender (?:address|domain) (?:rejected|unknown|invalid)")),
]

# The recipient's side, checked after the codes.
_TEXT: list[tuple[Reason, re.Pattern[str]]] = [
    (
        Reason.MAILBOX_FULL,
        _words(
            r"mailbox (?:is )?full",
            r"over ?quota",
            r"quota (?:exceeded|exceed|full)",
            r"exceeded (?:the )?storage",
            r"insufficient (?:system )?storage",
            r"mailbox size",
            r"postfach (?:ist )?voll",
            r"mailbox has exceeded",
            r"disk quota",
            r"容量",
            r"空间不足",
            r"邮箱已满",
            r"满了",
        ),
    ),
    (
        Reason.MESSAGE_TOO_BIG,
        _words(
            r"message (?:size|is too (?:big|large))",
            r"message too (?:big|large)",
            r"exceeds (?:the )?(?:maximum )?(?:allowed )?(?:message )?size",
            r"size limit",
            r"邮件过大",
            r"邮件大小",
        ),
    ),
    (
        Reason.NOT_ACCEPTING,
        _words(r"does not accept (?:e-?)?mail", r"not accepting (?:e-?)?mail", r"null mx"),
    ),
    (
        Reason.HOST_UNKNOWN,
        _words(
            r"host (?:or domain name )?not found",
            r"host \S+ not found",
            r"domain (?:name )?not found",
            r"no such domain",
            r"unrouteable",
            r"domain does not exist",
            r"unknown domain",
            r"host unknown",
            r"no mx",
            r"域名不存在",
        ),
    ),
    (
        Reason.SUSPENDED,
        _words(
            r"account (?:has been |is )?(?:disabled|suspended|inactive|deactivated|locked)",
            r"mailbox (?:is )?(?:disabled|inactive|suspended)",
            r"is disabled",
            r"账户已被冻结",
            r"帐户已被冻结",
            r"被冻结",
            r"已停用",
        ),
    ),
    (
        Reason.USER_UNKNOWN,
        _words(
            r"user unknown",
            r"unknown user",
            r"no such (?:user|mailbox|recipient|address|person)",
            r"does not exist",
            r"doesn't exist",
            r"mailbox (?:unavailable|not found)",
            r"recipient (?:address )?rejected",
            r"unknown (?:recipient|mailbox|address|local)",
            r"invalid (?:recipient|mailbox|address)",
            r"address not found",
            r"no mailbox",
            r"not a valid mailbox",
            r"recipient not found",
            r"doesn't have an? \S+ account",
            r"name (?:is )?not recogni[sz]ed",
            r"not listed in",
            r"no longer (?:valid|active)",
            r"addressee unknown",
            r"unknown or illegal alias",
            r"user not found",
            r"bad destination mailbox",
            r"mailbox name not allowed",
            r"no account",
            r"empfänger unbekannt",
            r"unbekannter empfänger",
            r"existiert nicht",
            r"用户不存在",
            r"收件人不存在",
            r"邮箱不存在",
            r"地址不存在",
            r"帐号不存在",
            r"账号不存在",
            r"账户不存在",
            r"存在しない",
            r"宛先不明",
        ),
    ),
    (Reason.FILTERED, _words(r"\bfilter", r"refused by (?:the )?recipient", r"拒收", r"拒绝接收")),
    (
        Reason.EXPIRED,
        _words(
            r"expired",
            r"too long in (?:the )?queue",
            r"retry time(?:out)? (?:not )?exceeded",
            r"giving up",
            r"could not be delivered (?:within|for)",
        ),
    ),
]

# Enhanced codes that say enough on their own: "subject.detail" → reason.
_CODES: dict[str, Reason] = {
    "1.1": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,  # bad syntax: the address can never work
    "1.6": Reason.HAS_MOVED,
    "1.7": Reason.SENDER_REJECTED,
    "1.8": Reason.SENDER_REJECTED,
    "1.10": Reason.NOT_ACCEPTING,
    "2.1": Reason.SUSPENDED,
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.MESSAGE_TOO_BIG,
    "2.4": Reason.MAILER_ERROR,
    "3.1": Reason.SYSTEM_FULL,
    "3.4": Reason.MESSAGE_TOO_BIG,
    "4.3": Reason.NETWORK_ERROR,
    "4.4": Reason.NETWORK_ERROR,
    "4.6": Reason.NETWORK_ERROR,
    "4.7": Reason.EXPIRED,
    "7.23": Reason.SECURITY_ERROR,
    "7.24": Reason.SECURITY_ERROR,
    "7.25": Reason.SECURITY_ERROR,
    "7.26": Reason.SECURITY_ERROR,
    "7.27": Reason.SECURITY_ERROR,
    "7.5": Reason.SECURITY_ERROR,
    "7.7": Reason.SECURITY_ERROR,
    "7.8": Reason.SECURITY_ERROR,
    "7.9": Reason.SECURITY_ERROR,
    "7.15": Reason.SECURITY_ERROR,
}


@dataclass(frozen=True)
class Verdict:
    """``kind`` is hard or soft; ``scored`` is False for a refusal of our own message."""

    kind: str
    scored: bool
    reason: Reason
    code: str | None  # the bare enhanced status code the verdict rests on, if any

    @property
    def side(self) -> Side:
        return SIDE[self.reason]

    def __str__(self) -> str:
        whose = {Side.HARD: "hard", Side.SOFT: "soft", Side.OURS: "our side, not scored"}
        return f"{self.reason} ({self.code or 'no code'}; {whose[self.side]})"


def status_code(text: str | None) -> str | None:
    """The first enhanced status code in ``text`` (``5.1.1``), or None.

    A DSN's ``Status: 5.1.10 (host/domain does not accept mail)`` carries an
    RFC 822 comment after the code (RFC 3464 allows it): the code is read,
    the comment kept in the stored status.
    """
    m = _CODE.search(text or "")
    return ".".join(m.groups()) if m else None


def _from_code(code: str) -> Reason | None:
    detail = code.partition(".")[2]
    found = _CODES.get(detail)
    if found is None and detail.startswith("6."):
        return Reason.CONTENT_ERROR
    if found is None and detail.startswith("7."):
        return Reason.POLICY_VIOLATION  # any other 5.7.x: the receiver's rules refused us
    if found is None and detail.startswith("3."):
        return Reason.MAILER_ERROR
    return found


def classify_failure(
    status: str | None, diagnostic: str | None, *, permanent: bool, hint: Reason | None = None
) -> Reason:
    """The reason of one failure; ``permanent`` is what the report said (Action: failed).

    ``hint`` is what a detector knows its format means when the text alone
    is unclear (docomo's bare rejection); a code or an our-side phrase wins.
    """
    text = " ".join(filter(None, (status, diagnostic)))
    code = status_code(status) or status_code(diagnostic)
    if code is not None:
        permanent = code[0] == "5"
    else:
        m = _REPLY.search(diagnostic or "")
        if m:
            permanent = m.group(1) == "5"
    for reason, pattern in _OURS_TEXT:
        if pattern.search(text):
            return reason
    found = _from_code(code) if code else None
    found = found or hint
    if found is None:
        found = next((r for r, pattern in _TEXT if pattern.search(text)), None)
    if found is None:
        return Reason.UNDEFINED if permanent else Reason.TEMPORARY
    if not permanent and SIDE[found] == Side.HARD:
        return Reason.TEMPORARY  # "4.1.1": the server is not sure yet
    return found


def judge(
    status: str | None, diagnostic: str | None, *, permanent: bool, hint: Reason | None = None
) -> Verdict:
    """Map a failure to a verdict via its :class:`Reason` and that reason's side."""
    reason = classify_failure(status, diagnostic, permanent=permanent, hint=hint)
    side = SIDE[reason]
    code = status_code(status) or status_code(diagnostic)
    return Verdict("hard" if side == Side.HARD else "soft", side != Side.OURS, reason, code)
