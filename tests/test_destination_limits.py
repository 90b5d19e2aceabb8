"""Per-destination sending: how many messages to one provider at once, how fast, which relay.

Real SMTP servers (aiosmtpd on 127.0.0.1) note, per recipient domain, how many message
transactions are open at the same moment (from RCPT to the end of DATA) and when each message
arrived; a real authoritative DNS server (Knot, as in test_doctor) serves the MX records that
put a company's own domain with its mail provider. The old code had one pool for everything:
it sent a capped destination over every connection, ignored its rate and its relay.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import World
from dns_server import dns_server
from smtp_server import RecordingHandler, RecordingServer

from newsletter.campaigns import ledger
from newsletter.campaigns.lanes import Lanes
from newsletter.campaigns.providers import Grouping
from newsletter.campaigns.sender import run_campaign
from newsletter.cli import cli
from newsletter.config import Dns, load_settings
from newsletter.destinationconfig import DestinationSettings
from newsletter.transports.smtp import SmtpTransport


class CountingHandler(RecordingHandler):
    """Counts the open transactions per recipient domain; each DATA takes ``pause`` seconds.

    The domains of ``together`` are counted as one, under the key ``"together"``.
    """

    def __init__(self, pause: float = 0.03, together: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.pause = pause
        self.together = together
        self.open: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.guard = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        reply = await super().handle_RCPT(server, session, envelope, address, rcpt_options)
        domain = self.key(address)
        with self.guard:
            self.open[domain] += 1
            self.most[domain] = max(self.most[domain], self.open[domain])
        return reply

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self.pause)
        try:
            return await super().handle_DATA(server, session, envelope)
        finally:
            with self.guard:
                for rcpt in envelope.rcpt_tos:
                    self.open[self.key(rcpt)] -= 1

    def key(self, address: str) -> str:
        domain = address.rpartition("@")[2].lower()
        return "together" if domain in self.together else domain


def _server(pause: float = 0.03, together: frozenset[str] = frozenset()) -> RecordingServer:
    srv = RecordingServer()
    srv.handler = CountingHandler(pause, together)
    srv.controller.handler = srv.handler
    return srv


def _move(world: World, every: int, domain: str) -> None:
    """Every ``every``-th subscriber (by id) to ``domain``: the destinations interleave."""
    with world.db.session() as s:
        rows = s.execute(sa.text("SELECT id, email FROM subscriber ORDER BY id")).all()
        for i, (sid, email) in enumerate(rows):
            if i % every == 0:
                new = email.replace("@example.com", "@" + domain)
                s.execute(
                    sa.text("UPDATE subscriber SET email = :n, key = :n WHERE id = :i"),
                    {"n": new, "i": sid},
                )


def _once(srv: RecordingServer, n: int) -> None:
    received = srv.received_by()
    assert len(received) == n and set(received.values()) == {1}, received  # nobody twice


def test_a_destination_with_one_connection_never_gets_two_messages_at_once(
    world: World, tmp_path: Path
) -> None:
    cfg = tmp_path / "limits.toml"
    cfg.write_text(
        "[delivery]\ndestination_connections = 6\n\n"
        '[delivery.destinations.slow]\ndomains = ["example.net"]\nconnections = 1\n'
    )
    world.configure(destinations=load_settings(cfg).delivery.destinations)
    world.add(80)
    _move(world, 4, "example.net")
    cid = world.campaign()
    with _server() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=4, timeout=5)
        result = run_campaign(world.db, world.settings, cid, transport)
    handler = srv.handler
    assert isinstance(handler, CountingHandler)
    assert result.counts == {"sent": 80}
    _once(srv, 80)
    assert handler.most["example.net"] == 1, handler.most  # the old code: up to 4
    assert handler.most["example.com"] >= 3, handler.most  # the others use every connection
    options = ["--config", str(cfg), "--database", world.settings.database_url]
    show = CliRunner().invoke(cli, [*options, "campaigns", "show", str(cid)])
    assert show.exit_code == 0, show.output
    assert (
        "Destination limits: (others: 6 connections each)\n"
        "  slow                 1 connection, for example.net\n"
    ) in show.output


def test_a_busy_destination_filling_the_first_pages_does_not_hold_up_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first page of the queue is all example.net (one connection): the example.com
    messages behind it are claimed from the next page, not one per example.net message."""
    monkeypatch.setattr(ledger, "PAGE", 20)
    world.configure(
        destinations=(DestinationSettings("slow", domains=("example.net",), connections=1),)
    )
    world.add(50)
    with world.db.session() as s:
        s.execute(
            sa.text(
                "UPDATE subscriber SET email = replace(email, '@example.com', '@example.net') "
                "WHERE id IN (SELECT id FROM subscriber ORDER BY id LIMIT 40)"
            )
        )
        s.execute(sa.text("UPDATE subscriber SET key = email"))
    cid = world.campaign()
    with _server(pause=0.05) as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=4, timeout=5)
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 50}
    _once(srv, 50)
    net = sorted(m.at for m in srv.messages if m.rcpt.endswith("@example.net"))
    com = sorted(m.at for m in srv.messages if m.rcpt.endswith("@example.com"))
    # all ten while example.net's first few went out; without the pages after the held-back
    # one, each example.com message waited for an example.net message to be recorded
    assert com[-1] < net[5], (com[-1] - net[0], [t - net[0] for t in net[:8]])


def test_a_destination_rate_is_held_while_the_others_go_at_full_speed(world: World) -> None:
    rate = 4.0  # messages per second to example.net
    world.configure(
        destinations=(DestinationSettings("paced", domains=("example.net",), rate_per_second=rate),)
    )
    world.add(90)
    _move(world, 9, "example.net")  # 10 of them
    cid = world.campaign()
    with _server(pause=0.0) as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=3, timeout=5)
        started = time.time()
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 90}
    _once(srv, 90)
    net = sorted(m.at for m in srv.messages if m.rcpt.endswith("@example.net"))
    com = sorted(m.at for m in srv.messages if m.rcpt.endswith("@example.com"))
    assert len(net) == 10 and len(com) == 80
    # 10 messages at 4/s take 9 spacings of 0.25 s; the old code sent them in a blink
    assert net[-1] - net[0] >= 9 / rate * 0.9, net
    # and in every stretch: any five took at least four spacings (less the jitter of a loaded
    # machine between a message's start, which is paced, and its arrival)
    spans = [net[i + 4] - net[i] for i in range(len(net) - 4)]
    assert min(spans) >= 4 / rate * 0.75, spans
    # example.com did not wait for example.net's pace
    assert com[-1] - started < (net[-1] - started) * 0.6, (com[-1] - started, net[-1] - started)


def test_a_destination_routed_to_its_own_relay_arrives_only_there(world: World) -> None:
    world.add(30)
    _move(world, 3, "example.net")
    cid = world.campaign()
    with _server() as main, _server() as relay:
        world.configure(
            destinations=(
                DestinationSettings(
                    "routed",
                    domains=("example.net",),
                    connections=2,
                    relay_host="127.0.0.1",
                    relay_port=relay.port,
                ),
            )
        )
        transport = SmtpTransport("127.0.0.1", main.port, connections=2, timeout=5)
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 30}
    to_relay = relay.received_by()
    to_main = main.received_by()
    assert len(to_relay) == 10 and all(a.endswith("@example.net") for a in to_relay)
    assert len(to_main) == 20 and all(a.endswith("@example.com") for a in to_main)
    assert set(to_relay.values()) == set(to_main.values()) == {1}
    rows = world.log(cid)
    assert {r.status for r in rows.values()} == {"sent"}


ZONE = """
workspace IN MX 1 aspmx.l.google.com.
workspace IN MX 5 alt1.aspmx.l.google.com.
office IN MX 0 office-example-org.mail.protection.outlook.com.
hosted IN MX 10 mx1.mailhost.example.net.
own IN MX 10 mail.own.example.org.
"""


def test_custom_domains_are_grouped_by_their_mx_from_real_dns() -> None:
    with dns_server({"example.org": ZONE}) as port:
        grouping = Grouping(
            (DestinationSettings("mailhost", mx=("mailhost.example.net",)),),
            nameserver=f"127.0.0.1:{port}",
        )
        grouping.prepare(
            [
                "workspace.example.org",
                "office.example.org",
                "hosted.example.org",
                "own.example.org",
                "nothing.example.org",  # no such name
                "elsewhere.example.com",  # not served: REFUSED
                "gmail.com",  # known by name: not asked
            ],
            budget=10,
        )
    assert grouping("ann@Workspace.example.org") == "google"
    assert grouping("bob@office.example.org") == "microsoft"
    assert grouping("cy@hosted.example.org") == "mailhost"
    assert grouping("di@own.example.org") == "own.example.org"
    assert grouping("ed@nothing.example.org") == "nothing.example.org"
    assert grouping("fi@elsewhere.example.com") == "elsewhere.example.com"
    assert grouping("gus@gmail.com") == "google"
    assert grouping.looked_up == 6


def test_without_a_name_server_reserved_domains_are_never_looked_up() -> None:
    grouping = Grouping()
    grouping.prepare(["example.com", "a.example.org", "x.test", "y.invalid"], budget=5)
    assert grouping.looked_up == 0


def test_a_workspace_domains_cap_is_googles_cap(world: World) -> None:
    """Two company domains on Google's MX share ``[delivery.destinations.google]``'s one
    connection: grouped by their MX (looked up on Knot), not each a destination of its own."""
    zone = "a IN MX 1 aspmx.l.google.com.\nb IN MX 1 smtp.google.com.\n"
    world.add(48)
    _move(world, 3, "a.example.org")
    with world.db.session() as s:
        rows = s.execute(
            sa.text("SELECT id, email FROM subscriber WHERE email LIKE '%@example.com' ORDER BY id")
        ).all()
        for sid, email in rows[::2]:
            new = email.replace("@example.com", "@b.example.org")
            s.execute(
                sa.text("UPDATE subscriber SET email = :n, key = :n WHERE id = :i"),
                {"n": new, "i": sid},
            )
    cid = world.campaign()
    both = frozenset({"a.example.org", "b.example.org"})
    with dns_server({"example.org": zone}) as port, _server(together=both) as srv:
        world.configure(destinations=(DestinationSettings("google", connections=1),))
        world.settings = replace(world.settings, dns=Dns(nameserver=f"127.0.0.1:{port}"))
        transport = SmtpTransport("127.0.0.1", srv.port, connections=4, timeout=5)
        result = run_campaign(world.db, world.settings, cid, transport)
        handler = srv.handler
        assert isinstance(handler, CountingHandler)
        assert result.counts == {"sent": 48}
        _once(srv, 48)
    # one connection for both domains together: never one message to each at the same time
    assert handler.most["together"] == 1, handler.most
    assert handler.most["example.com"] >= 3, handler.most


CONFIG = """\
[organisation]
name = "Limits"
sender_email = "news@example.org"
postal_address = "Street 1, 10115 Berlin"

[delivery.destinations.microsoft]
connections = 0
rate_per_minute = "fast"

[delivery.destinations.corp]
domains = ["corp.example.org"]
relay_port = 2525
colour = "red"
"""


def test_bad_destination_settings_name_their_line(tmp_path: Path) -> None:
    cfg = tmp_path / "newsletter.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "lists", "list"])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        f"{cfg}:7: delivery.destinations.microsoft.connections: must be 1 to 1000, got 0",
        f"{cfg}:8: delivery.destinations.microsoft.rate_per_minute: must be a whole number, "
        "got 'fast'",
        f"{cfg}:12: delivery.destinations.corp.relay_port: needs relay_host",
        f"{cfg}:13: delivery.destinations.corp.colour: unknown key 'colour' (known: domains, mx, "
        "connections, rate_per_second, rate_per_minute, relay_host, relay_port, relay_security)",
    ]


def test_the_lane_rule_catches_a_destination_handed_more_than_its_connections(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutation: the dispatcher forgets a destination's cap when it hands messages out.
    ``Dispatcher.check`` (with ``Lanes.check``) stops the run instead of letting it through."""
    world.configure(
        destinations=(DestinationSettings("slow", domains=("example.net",), connections=1),)
    )
    world.add(40)
    _move(world, 2, "example.net")
    cid = world.campaign()
    monkeypatch.setattr(Lanes, "wait", lambda self, name, now: 0.0)
    with _server() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=4, timeout=5)
        with pytest.raises(AssertionError, match="'slow'"):
            run_campaign(world.db, world.settings, cid, transport)
