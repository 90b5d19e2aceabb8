"""Pause, cancel and resume while a sender is still running: nobody gets the issue twice."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from delivery_helpers import World

from newsletter.campaigns import leases, store
from newsletter.campaigns.sender import run_campaign
from newsletter.transports import DEFERRED, Outcome
from newsletter.transports.maildir import MaildirTransport


class GatedMaildir(MaildirTransport):
    """A real Maildir outbox whose first message waits at the gate, as a slow server would.

    ``entered`` is set when the first message reaches the transport; the test
    acts on the campaign meanwhile (another process, in real life) and then
    opens ``gate``.
    """

    def __init__(self, outbox: Path):
        super().__init__(outbox)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(10)
        return super().send(sender, recipient, data)


def _delivered(outbox: Path) -> list[Path]:
    return sorted((outbox / "new").iterdir())


def _noticed() -> None:
    """Give the sender time to see the change: it looks at its campaign every 0.1 s.

    Until it does, a worker may still start a message it had already claimed
    (at most the claim window per connection; docs/sending.md says so).
    """
    time.sleep(0.5)


def _start(world: World, cid: int, transport: MaildirTransport) -> threading.Thread:
    thread = threading.Thread(
        target=run_campaign, args=(world.db, world.settings, cid, transport), daemon=True
    )
    thread.start()
    assert transport.entered.wait(10)  # type: ignore[attr-defined]
    return thread


def test_cancel_while_sending_sends_nothing_more(world: World) -> None:
    world.add(20)
    cid = world.campaign()
    outbox = world.tmp / "outbox"
    transport = GatedMaildir(outbox)
    thread = _start(world, cid, transport)
    with world.db.session() as s:
        cancelled = store.cancel_campaign(s, cid)
    _noticed()
    transport.gate.set()
    thread.join(10)
    assert not thread.is_alive()
    # only the message already in flight went out; the log says so
    assert len(_delivered(outbox)) == 1
    # the claimed ones no worker had started are cancelled too
    assert world.counts(cid) == {"sent": 1, "cancelled": 19}
    assert cancelled <= 19
    assert world.state(cid) == "cancelled"


def test_resume_while_the_paused_sender_still_runs_is_refused(world: World) -> None:
    world.add(20)
    cid = world.campaign()
    outbox = world.tmp / "outbox"
    transport = GatedMaildir(outbox)
    thread = _start(world, cid, transport)
    with world.db.session() as s:
        store.pause_campaign(s, cid)
    _noticed()
    with pytest.raises(store.CampaignBusy, match=f"campaign {cid} is pausing: process"):
        run_campaign(world.db, world.settings, cid, MaildirTransport(outbox), resume=True)
    transport.gate.set()
    thread.join(10)
    assert not thread.is_alive()
    # the first sender stopped at once: its message in flight, nothing more
    assert len(_delivered(outbox)) == 1
    assert world.counts(cid) == {"sent": 1, "queued": 19}
    assert world.state(cid) == "paused"
    result = run_campaign(world.db, world.settings, cid, MaildirTransport(outbox), resume=True)
    assert result.state == "finished" and result.counts == {"sent": 20}
    recipients = [p.read_bytes().split(b"\n")[1] for p in _delivered(outbox)]
    assert len(recipients) == len(set(recipients)) == 20


class GatedDeferring(GatedMaildir):
    """The message in flight during the cancel comes back "try again later"."""

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(10)
            return Outcome(DEFERRED, 451, "451 4.3.0 try again later", None)
        return super().send(sender, recipient, data)


def test_a_message_deferred_during_cancel_ends_cancelled(world: World) -> None:
    world.add(5)
    cid = world.campaign()
    transport = GatedDeferring(world.tmp / "outbox")
    thread = _start(world, cid, transport)
    with world.db.session() as s:
        cancelled = store.cancel_campaign(s, cid)
    _noticed()
    transport.gate.set()
    thread.join(10)
    assert not thread.is_alive()
    # no delivery is left waiting for a retry that a cancelled campaign never makes
    assert world.counts(cid) == {"cancelled": 5}
    assert cancelled < 5
    assert world.state(cid) == "cancelled"


def test_force_takes_over_a_paused_campaign_whose_sender_id_is_in_use(world: World) -> None:
    world.add(3)
    cid = world.campaign()
    with world.db.session() as s:
        c = store.get_campaign(s, cid)
        # a crashed sender whose process id now belongs to a live process (ours),
        # its lease not yet expired
        lease = leases.new_lease(s, cid, seconds=60)
        assert (lease.pid, lease.host) == (os.getpid(), socket.gethostname())
        c.status, c.lease_id = "paused", lease.id
        s.add(c)
    outbox = world.tmp / "outbox"
    with pytest.raises(store.CampaignBusy, match="resume with --force"):
        run_campaign(world.db, world.settings, cid, MaildirTransport(outbox), resume=True)
    run_campaign(world.db, world.settings, cid, MaildirTransport(outbox), resume=True, force=True)
    assert len(_delivered(outbox)) == 3
    assert world.counts(cid) == {"sent": 3}


@pytest.mark.parametrize(
    ("state", "interrupted", "says"),
    [
        ("paused (resume with: newsletter campaigns resume 7)", True, "Paused. Continue with"),
        ("paused (resume with: newsletter campaigns resume 7)", False, "Paused. Continue with"),
        ("cancelled", False, "Cancelled (newsletter campaigns cancel 7)"),
        ("finished", False, "Stopped: another sender took campaign 7 over"),
        ("sending (process 12 on h, lease renewed 1 s ago)", False, "another sender took"),
    ],
)
def test_an_early_end_says_why(state: str, interrupted: bool, says: str, capsys) -> None:
    """A taken-over sender does not tell its operator to resume a campaign it no longer has."""
    from newsletter.campaigns.sender import RunResult
    from newsletter.cli.run_summary import print_result

    print_result(RunResult(7, state, {"sent": 3}, stopped=True, interrupted=interrupted))
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Campaign 7: {state} (3 sent)"
    assert says in out
    assert ("resume" in out.splitlines()[1]) == state.startswith("paused")
