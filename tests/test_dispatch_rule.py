"""The dispatcher's rule (campaigns/dispatch.py): every claim not yet recorded is in one place.

``Dispatcher.check`` asserts it after every transaction and at the end of a run; these tests
show it runs on a real send, and that it catches a claim the dispatcher loses and a mark
committed ahead of the outcome before it (the crash bound).
"""

from __future__ import annotations

import pytest
from delivery_helpers import World
from smtp_server import RecordingServer

from newsletter.campaigns import store
from newsletter.campaigns.dispatch import Dispatcher
from newsletter.campaigns.outcomes import Result
from newsletter.campaigns.recording import Outcomes
from newsletter.campaigns.sender import run_campaign
from newsletter.transports.smtp import SmtpTransport


def test_the_rule_holds_after_every_transaction_of_a_send(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = world.add(300)
    cid = world.campaign()
    seen: list[tuple[int, int, int]] = []
    check = Dispatcher.check

    def checked(self: Dispatcher) -> None:
        check(self)
        seen.append((self.outstanding, len(self.claimed), self.cap))

    monkeypatch.setattr(Dispatcher, "check", checked)
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=3, timeout=5.0)
        result = run_campaign(world.db, world.settings, cid, transport)
        assert srv.received_by() == {a: 1 for a in addresses}
    assert result.counts == {"sent": 300}
    # one transaction per message at most (a mark each), a batch of claims at least every 8
    assert 300 / 8 <= len(seen) <= 300 + 300 / 8 + 5
    assert all(outstanding <= cap for outstanding, _, cap in seen)
    assert seen[-1][0] == 0  # at the end, nothing claimed is left unrecorded
    assert max(outstanding for outstanding, _, _ in seen) > 3  # it did claim ahead


def test_a_claim_the_dispatcher_loses_is_caught(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutation: a claimed message vanishes on its way to the connections.

    Without the rule nothing notices: the message stays ``sending`` until a resume calls it
    lost, and the run says it finished.
    """
    world.add(100)
    cid = world.campaign()
    hand_out = Dispatcher._hand_out

    def losing(self: Dispatcher) -> float:
        if len(self.claimed) > 3:
            self.claimed.pop()
        return hand_out(self)

    monkeypatch.setattr(Dispatcher, "_hand_out", losing)
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=2, timeout=5.0)
        with pytest.raises(AssertionError):
            run_campaign(world.db, world.settings, cid, transport)


def test_the_rule_names_what_it_found(world: World) -> None:
    world.add(1)
    cid = world.campaign()
    with world.db.session() as s:
        campaign = store.get_campaign(s, cid)
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=1, timeout=5.0)
        dispatcher = Dispatcher(world.db, world.settings, campaign, transport, False, None)
        try:
            dispatcher.check()
            dispatcher.outstanding += 1  # a claim nobody holds
            with pytest.raises(AssertionError) as caught:
                dispatcher.check()
            assert str(caught.value) == "(1, 0, 0, 0, 0)"
        finally:
            dispatcher.ledger.close()


def test_a_mark_committed_without_the_outcome_before_it_is_caught(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutation: outcomes left for a later transaction than the next mark.

    A crash between the two would leave two begun messages of one connection without an
    outcome, and both ``unknown``: the crash bound is one per connection. The rule's second
    half (begun and not recorded, at most one per open connection) catches it.
    """
    world.add(20)
    cid = world.campaign()
    take = Outcomes.take
    calls: list[int] = []

    def late(self: Outcomes) -> list[Result]:
        calls.append(1)
        return [] if len(calls) % 2 else take(self)

    monkeypatch.setattr(Outcomes, "take", late)
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=1, timeout=5.0)
        with pytest.raises(AssertionError) as caught:
            run_campaign(world.db, world.settings, cid, transport)
    assert str(caught.value) == "(2, 1)"
