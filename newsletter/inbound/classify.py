"""Classify one inbound message: what it is, and the evidence of whose message it concerns.

Pure: bytes in, a :class:`Classification` out, no database. The evidence is
only what can be verified afterwards (a VERP token's MAC, a Message-ID of
the exact form we write, our List-Id, a DSN's failed recipient);
:mod:`newsletter.inbound.attribute` checks it against the delivery log.
A message without such evidence is unrelated however bounce-like its text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parseaddr

from newsletter.inbound import autoreply, report
from newsletter.inbound.mta import mta_failures
from newsletter.inbound.status import judge, status_code
from newsletter.inbound.tables import Kind
from newsletter.inbound.unsubscribe import token_in_subject
from newsletter.tokens import TokenError, verify

# Our identifiers are found by their domain (a literal, which the regex
# engine finds fast) and read backwards from there, in the lower-cased message.
_TOKEN_BEFORE = re.compile(rb"\+([a-z0-9]+(?:-[a-z0-9]+)+)$")
_MID_BEFORE = re.compile(rb"([a-z0-9]+)\.(\d+)$")
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
    verp_deliveries: list[int] = field(default_factory=list)
    message_ids: list[tuple[str, int]] = field(default_factory=list)  # (Message-ID, delivery id)
    list_slugs: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)  # failed recipients a report names
    returned_foreign: bool = False  # a returned message is there, and nothing in it is ours
    unsubscribe: tuple[int, int] | None = None  # (subscriber id, list id) of a valid token
    unsubscribe_token: str | None = None  # that token, as the subject carried it

    def __bool__(self) -> bool:
        return bool(self.verp_deliveries or self.message_ids or self.list_slugs)


@dataclass
class Classification:
    kind: str
    content_hash: str
    message_id: str | None
    status: str | None = None
    diagnostic: str | None = None
    scored: bool = False
    reasons: list[str] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)


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
        try:
            (delivery,) = verify(ctx.key, "bounce", m.group(1).decode("ascii"))
        except (TokenError, ValueError):
            continue
        if int(delivery) not in ev.verp_deliveries:
            ev.verp_deliveries.append(int(delivery))
    suffix = at_domain.decode()
    for m in _before(low, at_domain, _MID_BEFORE):
        pair = (f"{m.group(1).decode()}.{m.group(2).decode()}{suffix}", int(m.group(2)))
        if pair not in ev.message_ids:
            ev.message_ids.append(pair)
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
    ctype = all_parts[0][0]
    report_type = str(msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    arf = report.feedback_report(all_parts)
    if arf is not None or report_type.lower() == "feedback-report":
        c.kind = Kind.COMPLAINT
        c.reasons.append(f"ARF feedback report ({(arf or Message()).get('Feedback-Type', '?')})")
        for name in ("Original-Rcpt-To", "Removal-Recipient"):
            if arf is not None and arf.get(name):
                c.evidence.recipients.append(str(arf.get(name)).strip().strip("<>"))
        if returned is not None and returned.get("To") and not c.evidence.recipients:
            c.evidence.recipients.append(parseaddr(str(returned.get("To")))[1])
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
    failures = mta_failures(msg, all_parts) if _looks_like_mta(msg) else []
    if failures:
        f = next((f for f in failures if f.permanent), failures[0])
        verdict = judge(None, f.diagnostic, permanent=f.permanent)
        c.kind, c.scored, c.diagnostic = verdict.kind, verdict.scored, f.diagnostic
        c.status = status_code(f.diagnostic)
        c.evidence.recipients.extend(x.recipient for x in failures)
        c.reasons.append(f"non-DSN bounce (flufl.bounce): {verdict.reason}")
        return c
    reasons = autoreply.challenge_reasons(msg)
    if reasons:
        c.kind, c.reasons = Kind.CHALLENGE, reasons
        return c
    reasons = autoreply.auto_reply_reasons(msg)
    if reasons:
        c.kind, c.reasons = Kind.AUTO_REPLY, reasons
    return c


def _from_dsn(c: Classification, failed: list[report.Failed]) -> Classification:
    c.evidence.recipients.extend(f.recipient for f in failed if f.recipient)
    hard = [f for f in failed if f.action in ("failed", "error")]
    if hard:
        f = hard[0]
        verdict = judge(f.status, f.diagnostic, permanent=True)
        c.kind, c.scored = verdict.kind, verdict.scored
        c.status, c.diagnostic = f.status or status_code(f.diagnostic), f.diagnostic
        c.reasons.append(f"RFC 3464 DSN, Action: failed: {verdict.reason}")
    elif any(f.action == "delayed" for f in failed):
        f = next(f for f in failed if f.action == "delayed")
        c.kind, c.status, c.diagnostic = Kind.DELAYED, f.status, f.diagnostic
        c.reasons.append("RFC 3464 DSN, Action: delayed: the server is still trying")
    else:
        c.reasons.append(f"RFC 3464 DSN, Action: {failed[0].action}: not a failure")
    return c
