"""The reason taxonomy: status + reply text → reason → hard, soft or ours, row by row.

"Ours" (a refusal of our message or server) is never scored: suppressing
a reader because our DMARC failed, our IP is listed or we sent too fast
would punish them for our problem.
"""

from __future__ import annotations

import pytest

from newsletter.inbound.reasons import SIDE, Reason, Side
from newsletter.inbound.status import judge, status_code

# (status, diagnostic, permanent) → (reason, kind, scored)
ROWS = [
    # the address is gone: hard
    ("5.1.1", "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown", True,
     Reason.USER_UNKNOWN, "hard", True),
    (None, "550 No such user here", True, Reason.USER_UNKNOWN, "hard", True),
    ("5.1.2", "550 5.1.2 Host unknown (Name server: example.net: host not found)", True,
     Reason.HOST_UNKNOWN, "hard", True),
    ("5.1.10 (host/domain does not accept mail)", None, True, Reason.NOT_ACCEPTING, "hard", True),
    ("5.1.10", "556 5.1.10 Recipient address rejected: Domain example.net does not accept mail "
     "(nullMX)", True, Reason.NOT_ACCEPTING, "hard", True),
    ("5.1.6", "551 5.1.6 User has moved; please try <b@example.com>", True, Reason.HAS_MOVED,
     "hard", True),
    ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled.", True,
     Reason.SUSPENDED, "hard", True),
    ("5.1.3", "501 5.1.3 Bad recipient address syntax", True, Reason.USER_UNKNOWN, "hard", True),
    ("5.0.0 (Remote SMTP server has rejected address)",
     "smtp;550 5.1.1 unknown or illegal alias: a@example.org", True, Reason.USER_UNKNOWN,
     "hard", True),
    # the mailbox exists but failed for now: soft, scored
    ("5.2.2", "552 5.2.2 Mailbox full", True, Reason.MAILBOX_FULL, "soft", True),
    (None, "552 Requested mail action aborted: exceeded storage allocation", True,
     Reason.MAILBOX_FULL, "soft", True),
    ("4.2.2", "452 4.2.2 Over quota", False, Reason.MAILBOX_FULL, "soft", True),
    ("4.3.1", "452 4.3.1 Insufficient system storage", False, Reason.SYSTEM_FULL, "soft", True),
    ("4.4.7", "Delivery time expired", False, Reason.EXPIRED, "soft", True),
    ("4.1.1", "450 4.1.1 <a@example.org>: Recipient address rejected: unverified address",
     False, Reason.TEMPORARY, "soft", True),
    ("5.0.0", "550 Rejected by the recipient's mail filter", True, Reason.FILTERED, "soft", True),
    ("5.0.0", "550 Service unavailable", True, Reason.UNDEFINED, "soft", True),
    ("5.3.0", "554 5.3.0 Mail system error", True, Reason.MAILER_ERROR, "soft", True),
    # they refused *our* message: never scored
    ("5.7.26", "550 5.7.26 This mail has been blocked because the sender is unauthenticated. "
     "Gmail requires all senders to authenticate with either SPF or DKIM.", True,
     Reason.BLOCKED, "soft", False),
    ("5.7.26", None, True, Reason.SECURITY_ERROR, "soft", False),
    ("5.7.1", "550 5.7.1 Unauthenticated email from example.org is not accepted due to "
     "domain's DMARC policy", True, Reason.SECURITY_ERROR, "soft", False),
    ("5.7.1", "554 5.7.1 Message rejected", True, Reason.POLICY_VIOLATION, "soft", False),
    ("5.7.0", None, True, Reason.POLICY_VIOLATION, "soft", False),
    ("5.1.8", "553 5.1.8 <newsletter@isa.example.org>: Sender address rejected: Domain not "
     "found", True, Reason.SENDER_REJECTED, "soft", False),
    ("5.1.7", "550 5.1.7 Invalid sender", True, Reason.SENDER_REJECTED, "soft", False),
    ("5.2.1", "550-5.2.1 The user you are trying to contact is receiving mail at a rate that "
     "prevents additional messages from being delivered.", True, Reason.RATE_LIMITED, "soft",
     False),
    ("4.7.28", "421 4.7.28 Our system has detected an unusual rate of unsolicited mail", False,
     Reason.RATE_LIMITED, "soft", False),
    ("5.1.3", "550 5.1.3 Client host 192.0.2.10 blocked using zen.spamhaus.org", True,
     Reason.BLOCKED, "soft", False),
    ("5.1.1", "550 5.1.1 Message rejected as spam", True, Reason.SPAM_DETECTED, "soft", False),
    ("5.4.4", "554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", True,
     Reason.NETWORK_ERROR, "soft", False),
    ("5.4.4", None, True, Reason.NETWORK_ERROR, "soft", False),
    ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", True, Reason.MESSAGE_TOO_BIG,
     "soft", False),
    ("5.2.3", None, True, Reason.MESSAGE_TOO_BIG, "soft", False),
    ("5.6.0", "554 5.6.0 Message contains invalid header", True, Reason.CONTENT_ERROR, "soft",
     False),
    (None, "550 Your message was rejected due to our policy", True, Reason.POLICY_VIOLATION,
     "soft", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "diagnostic", "permanent", "reason", "kind", "scored"),
    ROWS,
    ids=[f"{r[0]}-{r[3]}" for r in ROWS],
)
def test_reason_and_verdict(
    status: str | None,
    diagnostic: str | None,
    permanent: bool,
    reason: Reason,
    kind: str,
    scored: bool,
) -> None:
    verdict = judge(status, diagnostic, permanent=permanent)
    assert (verdict.reason, verdict.kind, verdict.scored) == (reason, kind, scored)


SIDES = {
    Reason.USER_UNKNOWN: Side.HARD,
    Reason.HOST_UNKNOWN: Side.HARD,
    Reason.NOT_ACCEPTING: Side.HARD,
    Reason.HAS_MOVED: Side.HARD,
    Reason.SUSPENDED: Side.HARD,
    Reason.MAILBOX_FULL: Side.SOFT,
    Reason.SYSTEM_FULL: Side.SOFT,
    Reason.FILTERED: Side.SOFT,
    Reason.EXPIRED: Side.SOFT,
    Reason.TEMPORARY: Side.SOFT,
    Reason.MAILER_ERROR: Side.SOFT,
    Reason.UNDEFINED: Side.SOFT,
    Reason.MESSAGE_TOO_BIG: Side.OURS,
    Reason.CONTENT_ERROR: Side.OURS,
    Reason.SPAM_DETECTED: Side.OURS,
    Reason.BLOCKED: Side.OURS,
    Reason.POLICY_VIOLATION: Side.OURS,
    Reason.SECURITY_ERROR: Side.OURS,
    Reason.RATE_LIMITED: Side.OURS,
    Reason.SENDER_REJECTED: Side.OURS,
    Reason.NETWORK_ERROR: Side.OURS,
}


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_its_side(reason: Reason) -> None:
    assert SIDE[reason] == SIDES[reason]
    verdict_kind = "hard" if SIDES[reason] == Side.HARD else "soft"
    # the side decides the verdict: a detector's hint with nothing else to go on
    verdict = judge(None, None, permanent=True, hint=reason)
    assert (verdict.reason, verdict.kind, verdict.scored) == (
        reason,
        verdict_kind,
        SIDES[reason] != Side.OURS,
    )


def test_a_status_with_an_rfc_3464_comment_reads_its_code() -> None:
    assert status_code("5.1.10 (host/domain does not accept mail)") == "5.1.10"
    bare = judge("5.1.10", None, permanent=True)
    commented = judge("5.1.10 (host/domain does not accept mail)", None, permanent=True)
    assert (
        (commented.kind, commented.reason)
        == (bare.kind, bare.reason)
        == ("hard", Reason.NOT_ACCEPTING)
    )
