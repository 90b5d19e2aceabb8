"""Classify one inbound message: what it is, and the evidence of whose message it concerns.

Pure: bytes in, a :class:`Classification` out, no database. The MACs of a
VERP token and of our Message-IDs are checked here (a failing one is
recorded as forged); our List-Id, a Message-ID without MAC and a report's
failed recipients are kept as claims that prove nothing.
:mod:`newsletter.inbound.attribute` checks the evidence against the
delivery log. A message without any of it is unrelated however bounce-like
its text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parseaddr

from newsletter.inbound import autoreply, report
from newsletter.inbound.reasons import SIDE, Reason, Side
from newsletter.inbound.status import judge
from newsletter.inbound.tables import Kind
from newsletter.inbound.unsubscribe import token_in_subject
from newsletter.tokens import TokenError, message_id_verifies, verify

# Our identifiers are found by their domain (a literal, which the regex
# engine finds fast) and read backwards from there, in the lower-cased message.
_TOKEN_BEFORE = re.compile(rb"bounces\+([a-z0-9]+(?:-[a-z0-9]+)+)$")
# <uid>.<delivery id>.<mac>: the MAC is what makes it ours; without one it is
# a Message-ID of before the MAC (or a look-alike), which proves nothing.
_MID_BEFORE = re.compile(rb"([a-z0-9]+)\.(\d{1,18})(?:\.([a-z0-9]+))?$")
_LIST_BEFORE = re.compile(rb"<([a-z0-9][a-z0-9-]*)$")
_MTA_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mdaemon", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """What tells our mail from anyone else's: the token key and our domains."""

    key: bytes
    domain: str  # the sender domain: Message-IDs and List-Ids live there
    verp_domain: str | None = None  # of the return path, when it is not ``domain``


@dataclass
class Evidence:
    """What in a message points at us, split by whether it can be verified.

    ``verp_deliveries`` and ``message_ids`` passed their MAC check:
    authenticated. ``unsigned_ids`` (Message-IDs without a MAC) and
    ``list_slugs`` are strings any reader of our mail can write: they say
    "maybe ours" and act on nothing. ``forged`` holds a token or Message-ID
    MAC of ours that failed verification: such a message is not ours.
    """

    verp_deliveries: list[int] = field(default_factory=list)
    message_ids: list[tuple[str, int]] = field(default_factory=list)  # (Message-ID, delivery id)
    unsigned_ids: list[tuple[str, int]] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    list_slugs: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # failed recipients a report names
    returned_foreign: bool = False  # a returned message is there, and nothing in it is ours
    unsubscribe: tuple[int, int] | None = None  # (subscriber id, list id) of a valid token
    unsubscribe_token: str | None = None  # that token, as the subject carried it

    @property
    def authenticated(self) -> bool:
        return bool(self.verp_deliveries or self.message_ids)

    def __bool__(self) -> bool:
        return bool(
            self.verp_deliveries
            or self.message_ids
            or self.unsigned_ids
            or self.list_slugs
            or self.forged
        )


@dataclass
class Classification:
    kind: str
    content_hash: str
    message_id: str | None
    status: str | None = None
    diagnostic: str | None = None
    scored: bool = False
    reason: str | None = None  # a newsletter.inbound.reasons.Reason, for failures
    reasons: list[str] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    format: str | None = None  # the report format or detector that read it


def _before(data: bytes, needle: bytes, pattern: re.Pattern[bytes]) -> list[re.Match[bytes]]:
    """Matches of ``pattern`` ending right before each occurrence of ``needle``."""
    found = []
    start = data.find(needle)
    while start != -1:
        m = pattern.search(data, max(0, start - 120), start)
        if m is not None:
            found.append(m)
        start = data.find(needle, start + 1)
    return found


def _evidence(ctx: Context, low: bytes, returned: Message | None) -> Evidence:
    ev = Evidence()
    at_domain = b"@" + ctx.domain.encode()
    verp_at = b"@" + (ctx.verp_domain or ctx.domain).encode()
    for m in _before(low, verp_at, _TOKEN_BEFORE):
        token = m.group(1).decode("ascii")
        try:
            (delivery,) = verify(ctx.key, "bounce", token)
        except (TokenError, ValueError):
            ev.forged.append(f"VERP token {token} fails verification")
            continue
        if int(delivery) not in ev.verp_deliveries:
            ev.verp_deliveries.append(int(delivery))
    suffix = at_domain.decode()
    for m in _before(low, at_domain, _MID_BEFORE):
        uid, number = m.group(1).decode("ascii"), m.group(2).decode("ascii")
        mac = m.group(3).decode("ascii") if m.group(3) else None
        if mac is None:
            pair = (f"{uid}.{number}{suffix}", int(number))
            if pair not in ev.unsigned_ids:
                ev.unsigned_ids.append(pair)
        elif message_id_verifies(ctx.key, int(number), mac):
            pair = (f"{uid}.{number}.{mac}{suffix}", int(number))
            if pair not in ev.message_ids:
                ev.message_ids.append(pair)
        else:
            ev.forged.append(f"Message-ID {uid}.{number}.{mac}{suffix} fails verification")
    for m in _before(low, b"." + ctx.domain.encode() + b">", _LIST_BEFORE):
        slug = m.group(1).decode("ascii")
        if slug not in ev.list_slugs:
            ev.list_slugs.append(slug)
    if returned is not None and not ev:
        ev.returned_foreign = True
    return ev


def _unsubscribe_token(ctx: Context, subject: str) -> tuple[int, int] | None:
    token = token_in_subject(subject)
    if token is None:
        return None
    try:
        subscriber, list_id = verify(ctx.key, "unsubscribe", token)
    except (TokenError, ValueError):
        return None
    return int(subscriber), int(list_id)


def _looks_like_mta(msg: Message) -> bool:
    """A notice from a mail system rather than from a person (for the non-DSN formats)."""
    sender = f"{msg.get('From', '')} {msg.get('Sender', '')}"
    return (
        bool(_MTA_SENDER.search(sender))
        or msg.get("X-Failed-Recipients") is not None
        or str(msg.get("Return-Path", "")).strip() == "<>"
    )


def classify(raw: bytes, ctx: Context) -> Classification:
    """What ``raw`` is; attribution to a delivery is the caller's next step."""
    msg = report.parse(raw)
    all_parts = report.parts(msg)
    returned = report.returned_headers(all_parts)
    c = Classification(
        Kind.UNRELATED,
        hashlib.sha256(raw).hexdigest(),
        (str(msg.get("Message-ID") or "").strip() or None),
        evidence=_evidence(ctx, raw.lower(), returned),
    )
    subject = report.text_of(msg.get("Subject"))
    if _complaint(c, msg, all_parts, returned):
        return c
    failed = report.delivery_status(all_parts)
    if failed:
        return _from_dsn(c, failed)
    token = _unsubscribe_token(ctx, subject)
    if token is not None:
        c.kind = Kind.UNSUBSCRIBE
        c.evidence.unsubscribe = token
        c.evidence.unsubscribe_token = token_in_subject(subject)
        c.reasons.append("mail to the List-Unsubscribe address with a valid token")
        return c
    if not c.evidence:
        return c  # nothing of ours in it: whatever it is, it is not ours to act on
    # Before the auto-reply markers: MTAs mark their own bounces Auto-Submitted.
    if _looks_like_mta(msg) and _from_detectors(c, msg, all_parts):
        return c
    reasons = autoreply.challenge_reasons(msg)
    if reasons:
        c.kind, c.reasons = Kind.CHALLENGE, reasons
        return c
    reasons = autoreply.auto_reply_reasons(msg)
    if reasons:
        c.kind, c.reasons = Kind.AUTO_REPLY, reasons
    return c


def _complaint(
    c: Classification, msg: Message, all_parts: report.Parts, returned: Message | None
) -> bool:
    """An ARF report (RFC 5965), or Hotmail/Outlook's older JMRP form of one."""
    ctype = all_parts[0][0]
    report_type = str(msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    arf = report.feedback_report(all_parts)
    hotmail = msg.get("X-HmXmrOriginalRecipient")
    if arf is None and report_type.lower() != "feedback-report" and hotmail is None:
        return False
    c.kind = Kind.COMPLAINT
    if arf is None and hotmail is not None:
        c.format = "hotmail-jmrp"
        c.reasons.append("Hotmail/Outlook feedback loop report (X-HmXmrOriginalRecipient)")
        c.evidence.recipients.append(str(hotmail).strip().strip("<>"))
    else:
        c.format = "arf"
        c.reasons.append(f"ARF feedback report ({(arf or Message()).get('Feedback-Type', '?')})")
    for name in ("Original-Rcpt-To", "Removal-Recipient"):
        if arf is not None and arf.get(name):
            c.evidence.recipients.append(str(arf.get(name)).strip().strip("<>"))
    if returned is not None and returned.get("To") and not c.evidence.recipients:
        c.evidence.recipients.append(parseaddr(str(returned.get("To")))[1])
    return True


def _failure(
    c: Classification,
    status: str | None,
    diagnostic: str | None,
    perm: bool,
    hint: Reason | None = None,
) -> str:
    verdict = judge(status, diagnostic, permanent=perm, hint=hint)
    c.kind, c.scored, c.reason = verdict.kind, verdict.scored, verdict.reason.value
    c.status = status or verdict.code
    c.diagnostic = diagnostic
    return str(verdict)


def _from_detectors(c: Classification, msg: Message, all_parts: report.Parts) -> bool:
    """A non-DSN bounce: our detectors first (they also find the reply), then flufl.bounce."""
    # Imported on the first such bounce: compiling every format's patterns costs start-up.
    from newsletter.inbound import detectors

    found = detectors.scan(msg, all_parts)
    if found is None:
        return False
    name, failures = found
    c.format = name
    c.evidence.recipients.extend(x.recipient for x in failures)
    if all(f.delayed for f in failures):
        f = failures[0]
        c.kind, c.status, c.diagnostic = Kind.DELAYED, f.status, f.diagnostic
        c.reasons.append(f"delay notice ({name}): the server is still trying")
        return True
    f = next((f for f in failures if f.permanent and not f.delayed), failures[0])
    verdict = _failure(c, f.status, f.diagnostic, f.permanent, f.hint)
    c.reasons.append(f"non-DSN bounce ({name}): {verdict}")
    return True


def _from_dsn(c: Classification, failed: list[report.Failed]) -> Classification:
    c.format = "rfc3464"
    c.evidence.recipients.extend(f.recipient for f in failed if f.recipient)
    hard = [f for f in failed if f.action in ("failed", "error")]
    if hard:
        f = hard[0]
        verdict = _failure(c, f.status, f.diagnostic, True)
        ours = c.reason is not None and SIDE[Reason(c.reason)] == Side.OURS
        if (c.status or "").startswith("4") and not ours:
            # Failed with a temporary status: the sending queue gave up retrying.
            c.kind, c.scored, c.reason = Kind.SOFT, True, Reason.EXPIRED.value
            verdict = f"{Reason.EXPIRED} ({c.status}; soft: the queue gave up retrying)"
        c.reasons.append(f"RFC 3464 DSN, Action: failed: {verdict}")
    elif any(f.action == "delayed" for f in failed):
        f = next(f for f in failed if f.action == "delayed")
        c.kind, c.status, c.diagnostic = Kind.DELAYED, f.status, f.diagnostic
        c.reasons.append("RFC 3464 DSN, Action: delayed: the server is still trying")
    else:
        c.reasons.append(f"RFC 3464 DSN, Action: {failed[0].action}: not a failure")
    return c
