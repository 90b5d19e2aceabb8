"""Sender leases: a live sender renews its hold, a stale one is recognisable from any host."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from delivery_helpers import World
from test_campaign_control import GatedMaildir

from newsletter.campaigns import store
from newsletter.campaigns.sender import RunResult, run_campaign
from newsletter.campaigns.tables import Delivery, SenderLease
from newsletter.cli import cli
from newsletter.transports.maildir import MaildirTransport


@pytest.fixture
def config(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(
        f'[database]\nurl = "{world.settings.database_url}"\n'
        f'[delivery]\ntransport = "maildir"\noutbox = "outbox"\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def _held_elsewhere(world: World, cid: int, *, renewed_ago: float, expires_in: float) -> int:
    """Campaign ``cid`` as a sender on another host left it: sending, one message in flight.

    Its body had begun (``data_at``): a claim without that would simply be queued again.
    """
    now = datetime.now(UTC)
    with world.db.session() as s:
        lease = SenderLease(
            campaign_id=cid,
            host="old-host",
            pid=4242,
            started_at=now - timedelta(hours=1),
            renewed_at=now - timedelta(seconds=renewed_ago),
            expires_at=now + timedelta(seconds=expires_in),
        )
        s.add(lease)
        s.flush()
        c = store.get_campaign(s, cid)
        c.status, c.lease_id, c.started_at = "sending", lease.id, now
        s.add(c)
        first = min(d.id for d in world.log(cid).values())
        d = s.get(Delivery, first)
        assert d is not None
        d.status, d.attempts, d.lease_id, d.data_at = "sending", 1, lease.id, now
        s.add(d)
        assert lease.id is not None
        return lease.id


def _show_state(config: Path, cid: int) -> str:
    r = run(config, "campaigns", "show", str(cid))
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.output.splitlines() if x.startswith("State:")]
    return line.removeprefix("State:").strip()


def test_a_sender_that_stopped_renewing_its_lease_is_stale(world: World, config: Path) -> None:
    world.add(3)
    cid = world.campaign()
    lease = _held_elsewhere(world, cid, renewed_ago=300, expires_in=-240)
    assert _show_state(config, cid) == (
        "interrupted: its sender, process 4242 on old-host, stopped renewing its lease "
        f"5 min ago (resume with: newsletter campaigns resume {cid})"
    )
    r = run(config, "campaigns", "resume", str(cid), "--yes")  # no --force needed
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"Campaign {cid}: finished with 1 unknown (2 sent, 1 unknown)")
    with world.db.session() as s:
        old = s.get(SenderLease, lease)
        assert old is not None and old.released_at is not None


def test_a_live_lease_on_another_host_needs_force(world: World, config: Path) -> None:
    world.add(2)
    cid = world.campaign()
    _held_elsewhere(world, cid, renewed_ago=3, expires_in=57)
    # (seconds may tick on a slow machine)
    state = _show_state(config, cid)
    assert re.fullmatch(r"sending \(process 4242 on old-host, lease renewed [34] s ago\)", state)
    r = run(config, "campaigns", "resume", str(cid), "--yes")
    assert r.exit_code == 1
    assert re.fullmatch(
        f"Error: campaign {cid} is being sent by process 4242 on old-host \\(lease renewed "
        r"[34] s ago\)\. If that sender is gone \(a restarted container, a lost host\), "
        r"resume with --force, or wait 5[67] s for its lease to expire\n",
        r.output,
    ), r.output
    assert world.counts(cid) == {"queued": 1, "sending": 1}  # untouched
    r = run(config, "campaigns", "resume", str(cid), "--yes", "--force")
    assert r.exit_code == 0, r.output
    assert world.counts(cid) == {"sent": 1, "unknown": 1}


def test_a_running_sender_renews_its_lease(world: World) -> None:
    world.configure(lease_seconds=3.0)
    world.add(2)
    cid = world.campaign()
    transport = GatedMaildir(world.tmp / "outbox")
    thread = threading.Thread(
        target=run_campaign, args=(world.db, world.settings, cid, transport), daemon=True
    )
    thread.start()
    assert transport.entered.wait(10)
    with world.db.session() as s:
        lease_id = store.get_campaign(s, cid).lease_id
    renewed = []
    for _ in range(3):
        threading.Event().wait(1.1)
        with world.db.session() as s:
            lease = s.get(SenderLease, lease_id)
            assert lease is not None
            renewed.append(lease.renewed_at)
    # still held while the message takes longer than the lease: it is renewed
    assert renewed[0] < renewed[1] < renewed[2]
    assert world.state(cid) == "sending"
    transport.gate.set()
    thread.join(10)
    assert world.state(cid) == "finished"
    with world.db.session() as s:
        lease = s.get(SenderLease, lease_id)
        assert lease is not None and lease.released_at is not None
        assert store.get_campaign(s, cid).lease_id is None


def test_a_sender_whose_lease_was_taken_over_sends_nothing_more(world: World) -> None:
    # a live sender taken over with --force (its host looked dead): it may finish the messages
    # it had claimed, claims nothing more, and nobody gets two copies
    addresses = world.add(60)
    cid = world.campaign()
    old = GatedMaildir(world.tmp / "old")
    new = GatedMaildir(world.tmp / "new")
    old_run = threading.Thread(target=_run, args=(world, cid, old, {}), daemon=True)
    old_run.start()
    assert old.entered.wait(10)  # in its first message, more claimed behind it
    new_results: list[RunResult] = []
    new_run = threading.Thread(
        target=_run, args=(world, cid, new, {"resume": True, "force": True}, new_results),
        daemon=True,
    )  # fmt: skip
    new_run.start()
    assert new.entered.wait(10)  # the take-over is done, the new sender in its first message
    with world.db.session() as s:
        claimed_by_old = s.execute(
            sa.select(sa.func.count()).where(
                Delivery.campaign_id == cid, Delivery.status == "unknown"
            )
        ).scalar()
    old.gate.set()  # the old sender wakes up while the campaign still has queued messages
    old_run.join(10)
    new.gate.set()
    new_run.join(10)
    assert not old_run.is_alive() and not new_run.is_alive()

    def received(outbox: Path) -> list[str]:
        return [
            p.read_bytes().split(b"\n")[1].removeprefix(b"Delivered-To: ").decode()
            for p in (outbox / "new").iterdir()
        ]

    by_old, by_new = received(old.outbox), received(new.outbox)
    assert 1 <= len(by_old) <= claimed_by_old  # nothing it had not claimed before
    assert sorted(by_old + by_new) == sorted(set(by_old + by_new)), "a second copy"
    log = world.log(cid)
    # the log tells the truth: what went out is sent, the rest of the old claims unknown
    assert {a for a, d in log.items() if d.status == "sent"} == set(by_old + by_new)
    assert (
        {a for a, d in log.items() if d.status != "sent"}
        == {a for a, d in log.items() if d.status == "unknown"}
        == set(addresses) - set(by_old + by_new)
    )
    unknown = len(addresses) - len(by_old) - len(by_new)
    assert world.state(cid) == (f"finished with {unknown} unknown" if unknown else "finished")
    assert new_results[0].counts["sent"] == len(by_new)


def _run(
    world: World, cid: int, transport: MaildirTransport, options: dict, out: list | None = None
) -> None:
    result = run_campaign(world.db, world.settings, cid, transport, **options)
    if out is not None:
        out.append(result)
