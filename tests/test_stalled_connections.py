"""A stalled reply holds only its own message: the rest goes to other or spare connections.

Before, a connection waiting for a slow final reply held the message it had announced behind
it (SMTP pipelining), and with every connection stalled nothing was sent at all until the
stalls ended. These tests stall replies at a real SMTP server and look at what it received,
and when, and at the delivery log.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import World, make_settings
from smtp_server import RecordingServer

from newsletter.campaigns.dispatch import Dispatcher
from newsletter.campaigns.sender import run_campaign
from newsletter.config import Smtp
from newsletter.transports.smtp import SmtpTransport

STALL = 4.0  # seconds a stalled reply keeps its connection waiting


def _transport(port: int, pool: int, spare: int) -> SmtpTransport:
    return SmtpTransport(
        "127.0.0.1",
        port,
        connections=pool,
        # long enough that only a closed connection, not a slow machine, makes it unknown
        timeout=10.0,
        final_reply_timeout=STALL + 16,
        slow_reply_seconds=0.3,
        spare_connections=spare,
    )


def test_every_connection_stalled_spares_carry_on_and_nobody_gets_two(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = world.add(40)
    cid = world.campaign()
    lost = addresses[20]
    begun: list[int] = []
    check = Dispatcher.check

    def checked(self: Dispatcher) -> None:
        check(self)
        begun.append(len(self.begun))

    monkeypatch.setattr(Dispatcher, "check", checked)
    # the reply to the first message on each of the pool's four connections comes after
    # STALL seconds; one more message gets no reply at all (the connection closes)
    with RecordingServer(stall_seconds=STALL, slow_connections=4) as srv:
        srv.fault(lost, "stall")
        started = time.time()
        result = run_campaign(world.db, world.settings, cid, _transport(srv.port, 4, 2))
        most_open = srv.handler.most_open
    assert result.counts == {"sent": 39, "unknown": 1}
    assert srv.received_by() == {a: 1 for a in addresses if a != lost}
    # all the others arrived before the first of the four stalled replies came
    stalled = {m.rcpt: m.at for m in srv.messages if m.rcpt in srv.handler.slowed}
    assert len(stalled) == 4
    first_reply = min(stalled.values()) + STALL
    others = [m.at - started for m in srv.messages if m.rcpt not in stalled]
    assert max(others) < first_reply - started, (others, first_reply - started)
    log = world.log(cid)
    assert log[lost].status == "unknown"
    assert all(d.attempts == 1 and d.history is None for d in log.values())
    # within the pool and its spares, and so is what a crash could leave unknown
    assert most_open <= 6
    assert 4 < max(begun) <= 6


def test_the_message_announced_behind_a_stalled_one_goes_on_another_connection(
    world: World,
) -> None:
    # No spares: the second connection takes what the first one had announced.
    first, *rest = world.add(12)
    cid = world.campaign()
    with RecordingServer(stall_seconds=STALL) as srv:
        srv.fault(first, "slow")
        result = run_campaign(world.db, world.settings, cid, _transport(srv.port, 2, 0))
        most_open = srv.handler.most_open
    assert result.counts == {"sent": 12}
    assert srv.received_by() == {a: 1 for a in [first, *rest]}
    # all arrived before the stalled reply came
    arrived = {m.rcpt: m.at for m in srv.messages}
    assert max(arrived[a] for a in rest) < arrived[first] + STALL, arrived
    assert most_open == 2


def test_a_spare_sends_while_the_one_connection_stalls_then_the_pool_is_one_again(
    world: World,
) -> None:
    # 60 messages at 20/s take 3 s; the first one's reply stalls for 2 s meanwhile.
    world.configure(rate_per_second=20.0)
    first, *rest = world.add(60)
    cid = world.campaign()
    open_at: list[tuple[float, int]] = []
    with RecordingServer(stall_seconds=2.0) as srv:
        srv.fault(first, "slow")
        started = time.time()
        transport = _transport(srv.port, 1, 1)
        run = threading.Thread(target=run_campaign, args=(world.db, world.settings, cid, transport))
        run.start()
        while run.is_alive():
            open_at.append((time.time() - started, srv.handler.open_now))
            time.sleep(0.02)
        run.join()
        most_open = srv.handler.most_open
    assert world.counts(cid) == {"sent": 60}
    assert srv.received_by() == {a: 1 for a in [first, *rest]}
    stalled = next(m.at for m in srv.messages if m.rcpt == first)
    arrived = sorted(m.at - started for m in srv.messages if m.rcpt != first)
    # sent on while the reply stalled (for 2 s, at 20/s)
    assert sum(t < stalled + 2.0 - started for t in arrived) >= 8, (stalled - started, arrived)
    assert most_open == 2
    # the stalled connection closed once its reply came: one connection again
    last_second = [n for t, n in open_at if t > arrived[-1] - 0.5]
    assert last_second and max(last_second) == 1, open_at


def test_spare_connections_default_to_the_pool_within_the_relays_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    def spare(**smtp: Any) -> int:
        return SmtpTransport.from_settings(replace(settings, smtp=Smtp(**smtp))).spare_connections

    assert spare(pool=4) == 4
    assert spare(pool=4, spare_connections=1) == 1
    assert spare(pool=4, max_connections=5) == 1
    assert spare(pool=4, max_connections=4, spare_connections=3) == 0
