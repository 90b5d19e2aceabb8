"""Every fixture message in tests/fixtures/inbound/ gets its expected kind, address and decision.

The fixtures are written in the shape of what Postfix, Exim, Sendmail,
qmail, Office 365, Gmail and Yahoo send, plus auto-replies in four
languages, an ARF complaint, a mailto unsubscribe and mail that is not ours.
"""

from __future__ import annotations

import pytest
from inbound_helpers import EXPECTED, FIXTURES, Sent
from sqlmodel import select

from newsletter.inbound.attribute import attribute
from newsletter.inbound.classify import classify
from newsletter.inbound.policy import record
from newsletter.inbound.process import context_for
from newsletter.inbound.tables import Bounce
from newsletter.subscribers.suppressions import suppression_for


def test_every_fixture_has_an_expectation_and_there_are_at_least_20() -> None:
    files = sorted(p.name for p in FIXTURES.glob("*.eml"))
    assert files == sorted(EXPECTED)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_classified_attributed_and_decided(sent: Sent, name: str) -> None:
    kind, address, decision = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        target = attribute(s, c) if c.kind != "unrelated" else None
        if address is None:
            assert target is None, f"{name} must not be attributed, got {target}"
            return
        assert target is not None
        assert target.address == address
        row = record(s, c, target, raw, "test", sent.settings.inbound)
        assert (row.kind, row.decision) == (kind, decision), c.reasons
        suppressed = suppression_for(s, address)
    if decision == "suppressed":
        assert suppressed is not None
        assert suppressed.reason == ("complaint" if kind == "complaint" else "bounced")
    elif kind != "unsubscribe":
        assert suppressed is None


def test_the_raw_message_is_kept_compressed(sent: Sent) -> None:
    import zlib

    raw = (FIXTURES / "gmail_hard.eml").read_bytes()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        target = attribute(s, c)
        assert target is not None and target.how == "verp"
        record(s, c, target, raw, "test", sent.settings.inbound)
    with sent.db.session() as s:
        row = s.exec(select(Bounce)).one()
    assert row.raw is not None and len(row.raw) < len(raw)
    assert zlib.decompress(row.raw) == raw
    assert (row.status, row.delivery_id, row.campaign_id) == ("5.1.1", 7, sent.campaign_id)


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("postfix_hard_user_unknown.eml", "verp"),
        ("sendmail_hard.eml", "message-id"),
        ("exchange_o365_hard.eml", "message-id"),
        ("postfix_idn_list_id.eml", "list-id"),
        ("dsn_recipient_only.eml", "dsn-recipient"),
        ("mailto_unsubscribe.eml", "token"),
    ],
)
def test_attribution_uses_the_most_trusted_evidence(sent: Sent, name: str, how: str) -> None:
    c = classify((FIXTURES / name).read_bytes(), context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        target = attribute(s, c)
    assert target is not None and target.how == how
