"""Campaigns delivered to a real SMTP server (aiosmtpd on 127.0.0.1) and to a Maildir."""

from __future__ import annotations

import email
import mailbox
import re
import socket
from dataclasses import replace
from email.policy import default

import pytest
import sqlalchemy as sa
from delivery_helpers import World
from smtp_server import RecordingServer

from newsletter.campaigns.sender import dry_run_campaign, run_campaign
from newsletter.config import Settings
from newsletter.subscribers.people import unsubscribe
from newsletter.subscribers.suppressions import suppress
from newsletter.subscribers.tables import Subscriber
from newsletter.tokens import token_key, verify
from newsletter.transports.maildir import MaildirTransport
from newsletter.transports.smtp import SmtpTransport

REQUIRED = (
    "From",
    "Reply-To",
    "To",
    "Date",
    "Subject",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


@pytest.mark.parametrize("pipelining", [True, False])
def test_every_confirmed_subscriber_gets_one_correct_message(
    world: World, pipelining: bool
) -> None:
    confirmed = world.add(20)
    unconfirmed = world.add(3, status="unconfirmed", prefix="pending")
    blocked = world.add(2, prefix="blocked")
    with world.db.session() as s:
        for a in blocked:
            suppress(s, a, "manual")
    cid = world.campaign()
    key = token_key(world.db.secret)
    with RecordingServer(pipelining=pipelining) as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=3, timeout=2)
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.state == "finished"
    assert result.counts == {"sent": 20}
    assert srv.received_by() == {a: 1 for a in confirmed}
    assert not set(srv.received_by()) & set(unconfirmed + blocked)
    message_ids = set()
    log = world.log(cid)
    for received in srv.messages:
        msg = received.message
        for name in REQUIRED:
            assert msg[name], name
        assert msg["To"].addresses[0].addr_spec == received.rcpt
        assert msg["To"].addresses[0].display_name.startswith("Leser ")
        assert received.mail_from == "newsletter@isa.example.org"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Mehr lesen: https://www.isa-portal.de/news?id=7&lang=de" in text
        assert 'href="https://www.isa-portal.de/news?id=7&amp;lang=de"' in html
        https = re.findall(r"<(https://[^>]+)>", msg["List-Unsubscribe"])[0]
        subscriber_id, list_id = verify(key, "unsubscribe", https.rsplit("/", 1)[1])
        assert int(list_id) == world.list_id
        assert log[received.rcpt].subscriber_id == int(subscriber_id)
        assert https in text and https in html
        message_ids.add(msg["Message-ID"])
        row = log[received.rcpt]
        assert row.message_id == msg["Message-ID"].strip("<>")
        assert row.queue_id and row.smtp_reply.startswith("250 2.0.0 Ok: queued as")
        assert row.claimed_at and row.finished_at and row.attempts == 1
    assert len(message_ids) == 20


def test_unsubscribe_after_creation_is_honoured_at_send_time(world: World) -> None:
    a, b, c = world.add(3)
    cid = world.campaign()
    with world.db.session() as s:
        unsubscribe(s, b, "news")
        suppress(s, c, "complaint")
    with RecordingServer() as srv:
        run_campaign(world.db, world.settings, cid, SmtpTransport("127.0.0.1", srv.port))
    assert srv.received_by() == {a: 1}
    log = world.log(cid)
    assert log[b].status == log[c].status == "skipped"
    assert world.state(cid) == "finished"


def test_verp_return_path_names_the_delivery(world: World) -> None:
    world.configure(verp=True, bounce_domain="bounces.isa.example.org")
    (a,) = world.add(1)
    cid = world.campaign()
    with RecordingServer() as srv:
        run_campaign(world.db, world.settings, cid, SmtpTransport("127.0.0.1", srv.port))
    (received,) = srv.messages
    local, _, domain = received.mail_from.partition("@")
    assert domain == "bounces.isa.example.org"
    assert local.startswith("bounces+")
    (delivery_id,) = verify(token_key(world.db.secret), "bounce", local.removeprefix("bounces+"))
    assert int(delivery_id) == world.log(cid)[a].id


def test_maildir_outbox_gets_one_file_per_message(world: World) -> None:
    addrs = world.add(5)
    cid = world.campaign()
    outbox = world.tmp / "outbox"
    result = run_campaign(world.db, world.settings, cid, MaildirTransport(outbox))
    assert result.counts == {"sent": 5}
    assert not list((outbox / "tmp").iterdir())
    box = mailbox.Maildir(outbox, create=False)
    got = sorted(
        email.message_from_bytes(box.get_bytes(k), policy=default)["To"].addresses[0].addr_spec
        for k in box.iterkeys()
    )
    assert got == sorted(addrs)
    log = world.log(cid)
    assert all((outbox / "new" / log[a].queue_id).exists() for a in addrs)


def test_dry_run_composes_everything_and_changes_nothing(world: World) -> None:
    world.add(10)
    cid = world.campaign()
    report = dry_run_campaign(world.db, world.settings, cid)
    assert report.messages == 10 and report.bytes > 10 * 1000
    assert world.counts(cid) == {"queued": 10}
    assert world.state(cid) == "draft"


@pytest.mark.parametrize("smtputf8", [True, False])
def test_international_addresses_are_sent_not_crashed_on(world: World, smtputf8: bool) -> None:
    ascii_one, idn, utf8 = world.add(3)
    with world.db.session() as s:
        for old, new in ((idn, "anna@bücher.example.org"), (utf8, "jörg@example.org")):
            s.execute(sa.update(Subscriber).where(Subscriber.email == old).values(email=new))
    cid = world.campaign()
    with RecordingServer({"enable_SMTPUTF8": smtputf8}) as srv:
        result = run_campaign(world.db, world.settings, cid, SmtpTransport("127.0.0.1", srv.port))
    # the IDN domain goes out in ASCII; a UTF-8 mailbox needs SMTPUTF8
    expected = {ascii_one: 1, "anna@xn--bcher-kva.example.org": 1}
    row = world.log(cid)["jörg@example.org"]
    if smtputf8:
        assert result.counts == {"sent": 3}
        assert srv.received_by() == {**expected, "jörg@example.org": 1}
        (received,) = [m for m in srv.messages if m.rcpt == "jörg@example.org"]
        assert received.data.startswith("To: Leser 2 <jörg@example.org>\r\n".encode())
    else:
        # a final failure that says why, not a crash of the whole run
        assert result.counts == {"sent": 2, "failed": 1}
        assert srv.received_by() == expected
        assert row.smtp_reply == (
            f"not sent: the mailbox name needs SMTPUTF8, which 127.0.0.1:{srv.port} does not offer"
        )


def _smtp_settings(world: World, port: int, **smtp: object) -> Settings:
    return replace(
        world.settings,
        smtp=replace(world.settings.smtp, host="127.0.0.1", port=port, **smtp),  # type: ignore[arg-type]
    )


def test_every_connection_greets_with_the_configured_helo_name(world: World) -> None:
    world.add(3)
    cid = world.campaign()
    with RecordingServer() as srv:
        settings = _smtp_settings(world, srv.port, helo_name="mta.isa.example.org")
        # one message per connection: every new connection greets again
        transport = replace(SmtpTransport.from_settings(settings), max_per_connection=1)
        assert run_campaign(world.db, settings, cid, transport).counts == {"sent": 3}
    assert srv.handler.greetings == ["mta.isa.example.org"] * 3


@pytest.mark.parametrize(
    ("fqdn", "expected"), [("vm", "isa.example.org"), ("mx1.example.net", "mx1.example.net")]
)
def test_the_default_helo_name_is_a_name_never_an_address_literal(
    world: World, monkeypatch: pytest.MonkeyPatch, fqdn: str, expected: str
) -> None:
    # a machine whose name has no dot greets with the sender's domain
    monkeypatch.setattr(socket, "getfqdn", lambda name="": fqdn)
    world.add(1)
    cid = world.campaign()
    with RecordingServer() as srv:
        settings = _smtp_settings(world, srv.port)
        run_campaign(world.db, settings, cid, SmtpTransport.from_settings(settings))
    assert srv.handler.greetings == [expected]
