"""The bounce policy: Mailman 3's soft-bounce score, send-time failures, complaints, undo."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from inbound_helpers import FIXTURES, Sent
from sqlmodel import select

from newsletter.campaigns.tables import Delivery
from newsletter.config import Inbound
from newsletter.inbound.attribute import attribute
from newsletter.inbound.classify import classify
from newsletter.inbound.policy import Recorded, record, score_of
from newsletter.inbound.process import context_for
from newsletter.inbound.review import undo
from newsletter.inbound.tables import Bounce
from newsletter.subscribers.people import get_subscriber
from newsletter.subscribers.suppressions import suppression_for
from newsletter.subscribers.tables import ConsentEvent, Subscription, Suppression

POLICY = Inbound()
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_score_adds_half_a_point_at_most_once_a_day() -> None:
    same_day = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=5)]
    assert score_of(same_day, T0 + timedelta(hours=6), POLICY) == 0.5
    ten_days = [T0 + timedelta(days=d) for d in range(10)]
    assert score_of(ten_days, T0 + timedelta(days=9, hours=1), POLICY) == 5.0


def test_score_resets_after_seven_days_without_bounces() -> None:
    days = [T0, T0 + timedelta(days=1), T0 + timedelta(days=9)]
    assert score_of(days, T0 + timedelta(days=9), POLICY) == 0.5
    assert score_of([T0], T0 + timedelta(days=8), POLICY) == 0.0
    assert score_of([T0], T0 + timedelta(days=6), replace(POLICY, soft_bounce_score=1.0)) == 1.0


def _soft(sent: Sent, n: int, at: datetime) -> Recorded:
    """Record the mailbox-full fixture once more (as a new message) at ``at``."""
    raw = (FIXTURES / "postfix_mailbox_full.eml").read_bytes() + f"\n{n}\n".encode()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        row = record(s, c, attribute(s, c), raw, "test", POLICY)  # type: ignore[arg-type]
        bounce = s.get(Bounce, row.id)
        assert bounce is not None
        bounce.received_at = at
        s.add(bounce)
    return row


def test_ten_daily_soft_bounces_suppress_and_undo_forgives_the_score(sent: Sent) -> None:
    now = datetime.now(UTC)
    for day in range(9, 0, -1):
        _soft(sent, day, now - timedelta(days=day))
    with sent.db.session() as s:
        assert suppression_for(s, "bert@example.com") is None
    last = _soft(sent, 0, now)
    assert (last.decision, last.score) == ("suppressed", 5.0)
    with sent.db.session() as s:
        sup = suppression_for(s, "bert@example.com")
        assert sup is not None
        assert (sup.reason, sup.source, sup.detail) == (
            "bounced",
            f"bounce:{last.id}",
            "bounce score 5",
        )
    with sent.db.session() as s:
        done = undo(s, last.id or 0, actor="tester")
        assert done.lifted == "bounced"
        assert suppression_for(s, "bert@example.com") is None
        event = s.exec(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()  # type: ignore[union-attr]
        assert event is not None
        assert (event.action, event.source, event.actor) == (
            "unsuppress",
            f"bounces undo {last.id}",
            "tester",
        )
    # The next soft bounce starts a fresh score instead of suppressing again.
    again = _soft(sent, 99, datetime.now(UTC))
    assert (again.decision, again.score) == ("scored", 0.5)


def _failed_earlier(sent: Sent, reply: str, at: datetime) -> None:
    """An earlier mail to bert that our relay refused at send time (a delivery of its own)."""
    with sent.db.session() as s:
        s.add(Delivery(address="bert@example.com", status="failed", smtp_reply=reply,
                       finished_at=at))  # fmt: skip


def test_send_time_failures_feed_the_same_score(sent: Sent) -> None:
    now = datetime.now(UTC)
    _failed_earlier(sent, "552 5.2.2 Mailbox full", now - timedelta(days=1))
    row = _soft(sent, 1, now)
    assert row.score == 1.0


def test_a_spam_block_at_send_time_does_not_count(sent: Sent) -> None:
    now = datetime.now(UTC)
    _failed_earlier(sent, "550 5.7.1 Message rejected as spam", now - timedelta(days=1))
    assert _soft(sent, 1, now).score == 0.5


def test_a_complaint_unsubscribes_everywhere_and_suppresses_with_reason_complaint(
    sent: Sent,
) -> None:
    raw = (FIXTURES / "arf_complaint.eml").read_bytes()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        row = record(s, c, attribute(s, c), raw, "test", POLICY)  # type: ignore[arg-type]
        sub = get_subscriber(s, "mia@example.com")
        statuses = {
            x.status
            for x in s.exec(select(Subscription).where(Subscription.subscriber_id == sub.id))
        }
        sup = suppression_for(s, "mia@example.com")
    assert statuses == {"unsubscribed"}
    assert sup is not None and (sup.reason, sup.source) == ("complaint", f"bounce:{row.id}")


def test_hard_bounces_can_be_set_to_score_instead(sent: Sent) -> None:
    raw = (FIXTURES / "gmail_hard.eml").read_bytes()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        row = record(
            s, c, attribute(s, c), raw, "test", replace(POLICY, suppress_hard_bounces=False)
        )  # type: ignore[arg-type]
        assert (row.decision, row.score) == ("scored", 0.5)
        assert suppression_for(s, "gustav@example.com") is None


def test_a_bounce_suppression_writes_the_rows_suppress_writes(sent: Sent) -> None:
    """policy._suppress (Core statements) against subscribers.suppressions.suppress (ORM)."""
    from newsletter.subscribers.suppressions import suppress

    raw = (FIXTURES / "gmail_hard.eml").read_bytes()
    c = classify(raw, context_for(sent.db, sent.settings))
    with sent.db.session() as s:
        row = record(s, c, attribute(s, c), raw, "test", POLICY)  # type: ignore[arg-type]
        suppress(s, "anna@example.com", "bounced", detail="hard bounce 5.1.1",
                 source="bounce:99", actor="inbound")  # fmt: skip

    def rows(address: str, source: str) -> tuple[dict, dict]:
        with sent.db.session() as s:
            sup = s.exec(select(Suppression).where(Suppression.address == address)).one()
            event = s.exec(
                select(ConsentEvent).where(
                    ConsentEvent.action == "suppress", ConsentEvent.source == source
                )
            ).one()
        skip = {"id", "key_hash", "subject_hash", "address", "subject", "source",
                "created_at", "at", "subscriber_id"}  # fmt: skip
        return (
            {k: v for k, v in sup.model_dump().items() if k not in skip},
            {k: v for k, v in event.model_dump().items() if k not in skip},
        )

    ours, theirs = (
        rows("gustav@example.com", f"bounce:{row.id}"),
        rows("anna@example.com", "bounce:99"),
    )
    assert ours == theirs
    with sent.db.session() as s:
        event = s.exec(select(ConsentEvent).where(ConsentEvent.source == f"bounce:{row.id}")).one()
        gustav = get_subscriber(s, "gustav@example.com")
        assert (event.subscriber_id, event.subject) == (gustav.id, "gustav@example.com")
