"""What a run may claim: nothing once its lease is gone, one at a time when rate-limited.

A claim (``queued → sending``) is what a crash can leave ``unknown`` and what
two senders must never share, so these tests look at the delivery log a
second sender or an operator after a crash would see.
"""

from __future__ import annotations

import threading

from delivery_helpers import World
from test_campaign_control import GatedMaildir

from newsletter.campaigns import runs, store
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.sender import RunResult, run_campaign


def _take(world: World, cid: int, **how: bool):  # type: ignore[no-untyped-def]
    with world.db.session() as s:
        return runs.take(
            s, cid, transport="maildir", lease_seconds=60, resume=how.get("resume", False),
            force=how.get("force", False),
        )  # fmt: skip


def test_a_sender_taken_over_between_its_check_and_its_claim_claims_nothing(
    world: World,
) -> None:
    # The old sender looked (still ours), then another host took the campaign over with
    # --force before the old one's next claim: that claim must take nothing, or both send.
    world.add(6)
    cid = world.campaign()
    old = Ledger(world.db, _take(world, cid), world.settings.delivery)
    first = old.step([], want=2)
    assert len(first.claimed) == 2
    new = Ledger(world.db, _take(world, cid, resume=True, force=True), world.settings.delivery)
    late = old.step([], want=3)
    assert (late.claimed, late.missed) == ([], 3)
    assert world.counts(cid) == {"queued": 4, "unknown": 2}
    taken = new.step([], want=6)
    assert len(taken.claimed) == 4
    assert world.counts(cid) == {"sending": 4, "unknown": 2}
    old.close()
    new.close()


def test_a_rate_limited_run_has_one_message_claimed_at_a_time(world: World) -> None:
    # The documented crash bound of claim_window: rate-limited sending claims one at a
    # time, so a kill -9 while a message is in flight leaves one unknown, not a window.
    world.configure(rate_per_second=50.0, claim_window=16)
    world.add(12)
    cid = world.campaign()
    transport = GatedMaildir(world.tmp / "outbox")
    run = threading.Thread(
        target=run_campaign, args=(world.db, world.settings, cid, transport), daemon=True
    )
    run.start()
    assert transport.entered.wait(10)
    threading.Event().wait(0.5)  # time to claim ahead, if it would
    assert world.counts(cid) == {"sending": 1, "queued": 11}
    transport.gate.set()
    run.join(20)
    assert world.counts(cid) == {"sent": 12}


def test_a_sender_taken_over_mid_message_stops_and_says_it_was_taken_over(
    world: World,
) -> None:
    # It must notice the take-over by itself and end, not keep polling a campaign that
    # another sender holds: its run ends "stopped", and the campaign stays the other's.
    world.add(5)
    cid = world.campaign()
    old = GatedMaildir(world.tmp / "old")
    results: list[RunResult] = []
    run = threading.Thread(
        target=lambda: results.append(run_campaign(world.db, world.settings, cid, old)),
        daemon=True,
    )
    run.start()
    assert old.entered.wait(10)
    new_lease = _take(world, cid, resume=True, force=True).lease_id  # another host, --force
    old.gate.set()
    run.join(20)
    assert not run.is_alive(), "the old sender kept going after the take-over"
    (result,) = results
    assert (result.stopped, result.interrupted) == (True, False)
    with world.db.session() as s:
        campaign = store.get_campaign(s, cid)
        assert (campaign.status, campaign.lease_id) == ("sending", new_lease)
