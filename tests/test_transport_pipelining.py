"""SMTP pipelining across messages: one round trip each, and every outcome still exact.

With PIPELINING the next message's ``MAIL RCPT DATA`` goes out with this one's
body and final ``.``. What must not change: a message whose final ``.`` got no
reply is ``unknown``, the one announced behind it was not sent and goes out
once, and a server left waiting for a body never receives an empty message.
"""

from __future__ import annotations

import pytest
from delivery_helpers import World
from smtp_server import PipelineProbe, RecordingServer

from newsletter.campaigns.sender import run_campaign
from newsletter.transports import DotSafe, Envelope
from newsletter.transports.smtp import SmtpTransport

SENDER = "newsletter@isa.example.org"
MESSAGE = b"From: ISA <newsletter@isa.example.org>\r\nSubject: hello\r\n\r\nHello.\r\n"


def test_each_message_after_the_first_follows_the_previous_final_dot(world: World) -> None:
    world.add(5)
    cid = world.campaign()
    with PipelineProbe(delay=0.1) as probe:
        transport = SmtpTransport("127.0.0.1", probe.port, timeout=2)
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 5}
    # messages 2-4 had their successor composed and waiting: its MAIL was
    # already at the server before the server answered their "."
    assert probe.early[1:] == [True, True, True, False]
    assert probe.connections == 1
    # a transaction that ended with "." needs no RSET before the next MAIL
    assert sum(c == "RSET" for c in probe.commands) <= 1
    assert sum(c.startswith("MAIL FROM:") for c in probe.commands) == 5


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_no_reply_to_a_final_dot_is_unknown_and_the_next_message_goes_once(
    world: World, fault: str
) -> None:
    first, lost, after, last = world.add(4)
    cid = world.campaign()
    with RecordingServer(stall_seconds=1.0) as srv:
        srv.fault(lost, fault)
        transport = SmtpTransport(
            "127.0.0.1", srv.port, connections=1, timeout=0.5, final_reply_timeout=0.5
        )
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 3, "unknown": 1}
    log = world.log(cid)
    assert log[lost].status == "unknown"
    assert "after the whole message was sent" in log[lost].smtp_reply
    # the message announced behind the lost one had sent no body: it went
    # out on a new connection, in the same attempt
    assert (log[after].status, log[after].attempts, log[after].history) == ("sent", 1, None)
    assert srv.received_by() == {first: 1, after: 1, last: 1}
    assert srv.handler.connections == 2


def test_an_announced_message_that_is_not_sent_leaves_no_empty_message() -> None:
    with RecordingServer() as srv:
        channel = SmtpTransport("127.0.0.1", srv.port, timeout=2).open_channel()
        ahead = Envelope(SENDER, "b@example.org", len(MESSAGE))
        assert channel.send(SENDER, "a@example.org", MESSAGE, ahead).status == "sent"
        # another message than the announced one: the server was waiting for
        # b's body, so the connection is given up rather than sent a "."
        assert channel.send(SENDER, "c@example.org", MESSAGE, ahead).status == "sent"
        # the run stops with b announced again: closing must not QUIT into a body
        channel.close()
    assert srv.received_by() == {"a@example.org": 1, "c@example.org": 1}
    assert srv.handler.connections == 2
    assert all(m.data == MESSAGE for m in srv.messages)


def test_bytes_not_known_to_be_dot_safe_are_dot_stuffed() -> None:
    # composed messages are DotSafe (tests/test_compose.py); anything else is checked
    dots = b"Subject: dots\r\n\r\n.one\r\n..two\r\nthree\r\n."
    with RecordingServer() as srv:
        channel = SmtpTransport("127.0.0.1", srv.port, timeout=2).open_channel()
        for rcpt, data in (("a@example.org", dots), ("b@example.org", DotSafe(MESSAGE))):
            assert channel.send(SENDER, rcpt, data).status == "sent"
        channel.close()
    assert [m.data for m in srv.messages] == [dots + b"\r\n", MESSAGE]
