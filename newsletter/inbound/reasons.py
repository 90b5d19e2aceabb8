"""Why a message failed, and whose fault that is: the reason taxonomy of stored bounces.

Modelled on the reasons mature bounce classifiers use (sisimai's
``userunknown``, ``mailboxfull``, ``spamdetected`` …). Each reason belongs
to one side:

- ``hard``: the address is gone (suppress at once);
- ``soft``: the mailbox exists but failed for now (adds to the score);
- ``ours``: the receiver refused *our message or our server* (spam, policy,
  authentication, rate limits, block lists, our sender domain, DNS on the
  way): the reader did nothing wrong, so it is recorded and never scored.

The table below is the whole policy; ``tests/test_inbound_reasons.py``
checks it row by row.
"""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    HARD = "hard"
    SOFT = "soft"
    OURS = "ours"


class Reason(StrEnum):
    USER_UNKNOWN = "user-unknown"  # 5.1.1, "no such user"
    HOST_UNKNOWN = "host-unknown"  # 5.1.2, the domain does not exist
    NOT_ACCEPTING = "not-accepting-mail"  # 5.1.10 null MX (RFC 7505)
    HAS_MOVED = "has-moved"  # 5.1.6, the mailbox moved, no forwarding
    SUSPENDED = "suspended"  # 5.2.1, the mailbox is disabled
    MAILBOX_FULL = "mailbox-full"  # 4.2.2 / 5.2.2, over quota
    SYSTEM_FULL = "system-full"  # 4.3.1, the receiving system is out of storage
    FILTERED = "filtered"  # the recipient's own filter or settings refused it
    EXPIRED = "expired"  # 4.4.7 / 5.4.7, retried until the queue gave up
    TEMPORARY = "temporary"  # any other 4.x.x or temporary failure
    MAILER_ERROR = "mailer-error"  # the receiving system failed (5.3.x)
    UNDEFINED = "undefined"  # permanent, but nothing says why
    MESSAGE_TOO_BIG = "message-too-big"  # 5.3.4 / 5.2.3: the size of our message
    CONTENT_ERROR = "content-error"  # 5.6.x: the format of our message
    SPAM_DETECTED = "spam-detected"  # our message was judged spam
    BLOCKED = "blocked"  # our IP or domain is on a block list
    POLICY_VIOLATION = "policy-violation"  # 5.7.x: a policy of the receiver
    SECURITY_ERROR = "security-error"  # SPF, DKIM, DMARC, TLS of ours (5.7.23-5.7.26)
    RATE_LIMITED = "rate-limited"  # we sent too much too fast
    SENDER_REJECTED = "sender-rejected"  # 5.1.7 / 5.1.8: our sender address or domain
    NETWORK_ERROR = "network-error"  # 5.4.x: DNS or routing on the way


SIDE: dict[Reason, Side] = {
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

assert set(SIDE) == set(Reason), "every reason belongs to a side"
