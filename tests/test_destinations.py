"""Per-destination backoff: one provider throttling us slows down only the mail to it.

A real SMTP server on 127.0.0.1 answers ``421 4.7.0 [TSS04] … temporarily deferred`` (Yahoo's
throttle) to every recipient at example.net for 20 seconds after the first, and accepts
everything else. The campaign must back off example.net as a whole, send example.com at full
speed meanwhile, deliver example.net once the throttle is over, send nobody two copies, and
say in ``campaigns show`` what happened per destination.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import World
from smtp_server import RecordingHandler, RecordingServer

from newsletter.campaigns.destinations import backoff, destination_of, is_throttle
from newsletter.campaigns.sender import run_campaign
from newsletter.cli import cli
from newsletter.transports.smtp import SmtpTransport

THROTTLE = "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to user complaints"
WINDOW = 20.0  # seconds example.net throttles after its first throttling reply


class ThrottlingHandler(RecordingHandler):
    """Throttles one domain for ``WINDOW`` seconds from the first attempt to it."""

    throttled_domain = "example.net"

    def __init__(self) -> None:
        super().__init__()
        self.first: float | None = None
        self.throttles = 0
        self.guard = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.lower().endswith("@" + self.throttled_domain):
            with self.guard:
                now = time.time()
                if self.first is None:
                    self.first = now
                if now - self.first < WINDOW:
                    self.throttles += 1
                    return THROTTLE
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def _add(world: World, com: int, net: int) -> None:
    """``com`` subscribers at example.com and ``net`` at example.net, interleaved by id."""
    addrs = world.add(com + net)
    with world.db.session() as s:
        for i, address in enumerate(addrs):
            if i % ((com + net) // net) == 0:
                new = address.replace("@example.com", "@example.net")
                s.execute(
                    sa.text("UPDATE subscriber SET email = :n, key = :n WHERE email = :o"),
                    {"n": new, "o": address},
                )


def test_a_throttling_destination_backs_off_while_the_others_go_on(world: World) -> None:
    # backoffs of 1, 2, 4, 4, 4 … s: the probe after the window comes soon after it ends
    world.configure(
        throttle_backoff_seconds=1.0,
        throttle_max_backoff_seconds=4.0,
        retry_base_seconds=1.0,
        max_attempts=3,
    )
    _add(world, 60, 20)
    cid = world.campaign()
    srv = RecordingServer()
    srv.handler = ThrottlingHandler()
    srv.controller.handler = srv.handler
    with srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=2, timeout=2)
        result = run_campaign(world.db, world.settings, cid, transport)
    handler = srv.handler
    assert result.counts == {"sent": 80}  # type: ignore[attr-defined]
    received = srv.received_by()
    assert len(received) == 80 and set(received.values()) == {1}  # nobody twice
    first = handler.first
    assert first is not None
    net = [m.at for m in srv.messages if m.rcpt.endswith("@example.net")]
    com = [m.at for m in srv.messages if m.rcpt.endswith("@example.com")]
    assert len(net) == 20 and len(com) == 60
    # example.com went on at full speed while example.net was throttled ...
    assert max(com) < first + WINDOW / 4, (max(com) - first, WINDOW)
    # ... and example.net was delivered once the throttle was over
    assert min(net) >= first + WINDOW
    # ... and not long after: the backoff is capped at 4 s
    assert max(net) < first + WINDOW + 4 + 3, (max(net) - first, WINDOW)
    # Backed off as a whole: the messages already on their way when the first 421 came, plus
    # one probe per backoff (1, 2, 4, 4 … s), not every message retried on its own (which
    # would also fail them all after max_attempts within the 20 s).
    assert handler.throttles <= 12, handler.throttles
    # A throttle is "later", not "no": it does not use up the message's attempts.
    rows = world.log(cid)
    assert all(r.attempts == 1 for a, r in rows.items() if a.endswith("@example.net"))
    show = CliRunner().invoke(
        cli, ["--database", world.settings.database_url, "campaigns", "show", str(cid)]
    )
    assert show.exit_code == 0, show.output
    assert "Throttled by destination:\n  example.net" in show.output
    assert f"{handler.throttles} deferred" in show.output
    assert f"    last reply: {THROTTLE}\n" in show.output
    assert "backing off" not in show.output  # it recovered
    assert "example.com" not in show.output.split("Throttled by destination:")[1]


@pytest.mark.parametrize(
    ("code", "reply", "throttle"),
    [
        (421, "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred", True),
        (451, "451 4.7.650 The mail server has been temporarily rate limited", True),
        (421, "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail", True),
        (450, "450 4.2.1 The user is receiving mail at a rate that prevents delivery", True),
        (451, "451 4.7.1 Greylisted, try again later", False),  # per message, not per provider
        (421, "421 4.3.2 Service shutting down", False),  # the relay itself, any destination
        (452, "452 4.2.2 Mailbox full", False),
        (550, "550 5.7.1 Rate limit exceeded", False),  # permanent: not a deferral at all
    ],
)
def test_what_counts_as_a_throttle(code: int, reply: str, throttle: bool) -> None:
    assert is_throttle(code, reply) is throttle


def test_destinations_group_a_providers_domains() -> None:
    assert destination_of("a@gmail.com") == destination_of("b@GoogleMail.com") == "google"
    assert destination_of("a@hotmail.de") == destination_of("b@outlook.com") == "microsoft"
    assert destination_of("a@163.com") == destination_of("b@126.com") == "netease"
    assert destination_of("a@qq.com") == "qq"
    assert destination_of("a@example.org") == "example.org"


def test_the_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(level, 60, 3600).total_seconds() for level in range(1, 9)]
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_the_domains_looked_up_are_those_still_to_send(world: World) -> None:
    """``open_domains`` (the MX lookups' input) reads the domains in SQL, lower-cased, once."""
    from newsletter.campaigns.lanes import open_domains
    from newsletter.campaigns.tables import Delivery

    world.add(1)
    cid = world.campaign()
    now = datetime.now(UTC)
    rows = [
        ("Anna@Mail.Example.ORG", "queued"),
        ('"a@b"@quoted.example.net', "deferred"),
        ("ben@mail.example.org", "sending"),
        ("carla@sent.example.com", "sent"),
        ("dora@failed.example.com", "failed"),
    ]
    with world.db.engine.begin() as c:
        c.execute(sa.delete(Delivery.__table__))  # type: ignore[attr-defined]
        c.execute(
            sa.insert(Delivery.__table__),  # type: ignore[attr-defined]
            [
                {"campaign_id": cid, "address": a, "status": st, "attempts": 0,
                 "queued_at": now}
                for a, st in rows
            ],
        )  # fmt: skip
        c.execute(
            sa.insert(Delivery.__table__),  # type: ignore[attr-defined]
            {"campaign_id": cid, "address": None, "status": "queued", "attempts": 0,
             "queued_at": now},
        )  # fmt: skip
    with world.db.engine.connect() as c:
        assert open_domains(c, cid) == {"mail.example.org", "quoted.example.net"}
