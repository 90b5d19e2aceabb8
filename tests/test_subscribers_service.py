"""The library the delivery code calls: who gets mail, and suppressions."""

from __future__ import annotations

import pytest

from newsletter.db import Database
from newsletter.subscribers import (
    SubscriberError,
    add_subscriber,
    create_list,
    edit_subscriber,
    is_suppressed,
    recipients,
    suppress,
    suppression_for,
    unsubscribe,
    unsuppress,
)
from newsletter.subscribers.tables import Reason


def _who(db: Database, slug: str = "news") -> list[str]:
    with db.session() as s:
        return [sub.email for sub in recipients(s, slug)]


def test_recipients_are_confirmed_and_not_suppressed(news: Database) -> None:
    with news.session() as s:
        create_list(s, "events")
        for email in ("a@example.org", "b@example.org", "c@example.org", "d@example.org"):
            add_subscriber(s, email, ["news"], status="confirmed", consent_note="test")
        add_subscriber(s, "e@example.org", ["news"])  # unconfirmed
        add_subscriber(s, "f@example.org", ["events"], status="confirmed", consent_note="t")
        unsubscribe(s, "b@example.org", "news")
        suppress(s, "C@EXAMPLE.org", Reason.BOUNCED, detail="550 5.1.1", source="bounce")
    assert _who(news) == ["a@example.org", "d@example.org"]
    assert _who(news, "events") == ["f@example.org"]
    with news.session() as s:
        unsuppress(s, "c@example.org")
    assert _who(news) == ["a@example.org", "c@example.org", "d@example.org"]


def test_suppress_is_idempotent_and_keeps_the_first_reason(news: Database) -> None:
    with news.session() as s:
        first = suppress(s, "x@example.org", "bounced", source="bounce")
        again = suppress(s, "X@example.org", "complaint", source="bounce")
        assert again.id == first.id and again.reason == "bounced"
        assert is_suppressed(s, "x@EXAMPLE.ORG")
        assert not is_suppressed(s, "y@example.org")
        assert suppression_for(s, "x@example.org").source == "bounce"  # type: ignore[union-attr]


def test_unsubscribe_by_id_and_by_address_without_a_subscriber(news: Database) -> None:
    with news.session() as s:
        sub = add_subscriber(s, "a@example.org", ["news"])
        assert unsubscribe(s, sub.id, "news", source="web") == ["news"]  # type: ignore[arg-type]
        assert unsubscribe(s, "never@example.org") == []
        assert is_suppressed(s, "never@example.org")


def test_confirmed_status_needs_a_note_and_never_downgrades(news: Database) -> None:
    with news.session() as s, pytest.raises(SubscriberError, match="consent-note"):
        add_subscriber(s, "a@example.org", ["news"], status="confirmed")
    with news.session() as s:
        add_subscriber(s, "a@example.org", ["news"], status="confirmed", consent_note="form")
        add_subscriber(s, "a@example.org", ["news"])  # an unconfirmed add does not downgrade
    assert _who(news) == ["a@example.org"]


def test_editing_to_a_suppressed_or_taken_address_is_refused(news: Database) -> None:
    with news.session() as s:
        add_subscriber(s, "a@example.org", ["news"])
        add_subscriber(s, "b@example.org", ["news"])
        suppress(s, "c@example.org", "complaint")
    with news.session() as s, pytest.raises(SubscriberError, match="already a subscriber"):
        edit_subscriber(s, "a@example.org", email="B@example.org")
    with news.session() as s, pytest.raises(SubscriberError, match="is suppressed"):
        edit_subscriber(s, "a@example.org", email="c@example.org")
    with news.session() as s:
        assert edit_subscriber(s, "a@example.org", email="A@example.org") == ["email"]
