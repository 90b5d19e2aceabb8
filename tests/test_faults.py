"""Fault injection: a real SMTP server that defers, rejects, drops and stalls."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import World
from smtp_server import RecordingServer

from newsletter.campaigns.sender import run_campaign
from newsletter.campaigns.statements import UNKNOWN_REPLY
from newsletter.cli import cli
from newsletter.errors import OperationFailed
from newsletter.subscribers.suppressions import is_suppressed
from newsletter.transports import Outcome
from newsletter.transports.maildir import MaildirTransport
from newsletter.transports.smtp import SmtpTransport


def _send(world: World, srv: RecordingServer, cid: int, **kw: object) -> object:
    # a fresh connection per message: a drop on a reused one is retried at once
    # (nothing of the message reached the server), which would hide the deferral
    transport = SmtpTransport(
        "127.0.0.1", srv.port, connections=2, timeout=0.5, max_per_connection=1
    )
    return run_campaign(world.db, world.settings, cid, transport, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["421", "451", "rcpt-drop", "rcpt-stall"])
def test_temporary_failures_are_deferred_then_sent(world: World, fault: str) -> None:
    ok, flaky = world.add(2)
    cid = world.campaign()
    with RecordingServer(stall_seconds=1.5) as srv:
        srv.fault(flaky, fault)
        result = _send(world, srv, cid)
    assert result.counts == {"sent": 2}  # type: ignore[attr-defined]
    assert srv.received_by() == {ok: 1, flaky: 1}
    row = world.log(cid)[flaky]
    assert row.attempts == 2
    assert row.smtp_reply.startswith("250 ")
    first = row.history.splitlines()[0]
    expected = {
        "421": "421 4.3.2 Service shutting down",
        "451": "451 4.7.1 Greylisted, try again later",
        "rcpt-drop": "connection lost: connection closed by server",
        "rcpt-stall": "connection lost: timed out",
    }[fault]
    assert first.endswith(expected)
    assert world.state(cid) == "finished"


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_no_reply_after_the_whole_message_is_unknown_not_retried(world: World, fault: str) -> None:
    # the server had the whole message and may have queued it: a retry could duplicate
    _, lost = world.add(2)
    cid = world.campaign()
    with RecordingServer(stall_seconds=1.5) as srv:
        srv.fault(lost, fault)
        transport = SmtpTransport(
            "127.0.0.1", srv.port, connections=2, timeout=0.5, final_reply_timeout=0.5
        )
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 1, "unknown": 1}
    row = world.log(cid)[lost]
    assert (row.status, row.attempts, row.history) == ("unknown", 1, None)
    assert row.smtp_reply.startswith("outcome unknown: ")
    assert "after the whole message was sent" in row.smtp_reply
    assert world.state(cid) == "finished with 1 unknown"


def test_a_slow_final_reply_is_waited_for_not_retried(world: World) -> None:
    # stores the message, then answers after 2 s: longer than the command timeout
    ok, slow = world.add(2)
    cid = world.campaign()
    with RecordingServer(stall_seconds=2.0) as srv:
        srv.fault(slow, "slow")
        # the final reply gets its own wait (RFC 5321: 10 minutes by default)
        transport = SmtpTransport("127.0.0.1", srv.port, connections=2, timeout=0.5)
        result = run_campaign(world.db, world.settings, cid, transport)
        assert result.counts == {"sent": 2}
        assert srv.received_by() == {ok: 1, slow: 1}
        assert world.log(cid)[slow].smtp_reply.startswith("250 2.0.0 Ok: queued as")

        # a final-reply wait shorter than the server takes: unknown, still one copy
        srv.fault(slow, "slow")
        cid = world.campaign(again=True)
        transport = SmtpTransport(
            "127.0.0.1", srv.port, connections=2, timeout=0.5, final_reply_timeout=0.5
        )
        result = run_campaign(world.db, world.settings, cid, transport)
        time.sleep(2.0)  # the server's late 250 arrives to a closed connection
        assert result.counts == {"sent": 1, "unknown": 1}
        assert world.log(cid)[slow].status == "unknown"
        assert srv.received_by() == {ok: 2, slow: 2}  # one copy per campaign, never two


def test_the_final_reply_wait_comes_from_newsletter_toml(world: World, tmp_path: Path) -> None:
    # the command timeout is long, the final-reply wait short: only the latter ends it unknown
    ok, slow = world.add(2)
    cid = world.campaign()
    config = tmp_path / "newsletter.toml"
    with RecordingServer(stall_seconds=2.0) as srv:
        srv.fault(slow, "slow")
        config.write_text(
            f'[database]\nurl = "{world.settings.database_url}"\n[delivery]\ntransport = "smtp"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {srv.port}\ntimeout = 10\n'
            "final_reply_timeout = 0.5\n",
            encoding="utf-8",
        )
        r = CliRunner().invoke(
            cli, ["--config", str(config), "campaigns", "send", str(cid), "--yes"]
        )
        time.sleep(2.0)  # the late 250 arrives to a closed connection
        received = srv.received_by()
    assert (r.exit_code, r.output) == (
        0,
        f"Campaign {cid}: finished with 1 unknown (1 sent, 1 unknown)\n"
        "1 delivery has an unknown outcome: the server may have accepted it, so it is not sent "
        f"again. See: newsletter log {cid} --status unknown; send anyway (some may get it "
        f"twice): newsletter campaigns resume {cid} --resend-unknown\n",
    )
    row = world.log(cid)[slow]
    assert (row.status, row.attempts) == ("unknown", 1)
    assert row.smtp_reply.startswith("outcome unknown: no reply in time after the whole message")
    assert received == {ok: 1, slow: 1}


def test_no_such_user_bounces_and_suppresses(world: World) -> None:
    ok, gone = world.add(2)
    cid = world.campaign()
    with RecordingServer() as srv:
        srv.fault(gone, "550")
        result = _send(world, srv, cid)
    assert result.counts == {"sent": 1, "bounced": 1}  # type: ignore[attr-defined]
    row = world.log(cid)[gone]
    assert (row.status, row.smtp_code, row.attempts) == ("bounced", 550, 1)
    assert row.smtp_reply == f"550 5.1.1 <{gone}>: Recipient address rejected: User unknown"
    with world.db.session() as s:
        assert is_suppressed(s, gone) and not is_suppressed(s, ok)
    # the next campaign leaves the bounced address out
    assert world.campaign(again=True) and world.counts(cid + 1) == {"queued": 1}


def test_permanent_rejection_fails_without_retry(world: World) -> None:
    (spam,) = world.add(1)
    cid = world.campaign()
    with RecordingServer() as srv:
        srv.fault(spam, "554")
        result = _send(world, srv, cid)
    assert result.counts == {"failed": 1}  # type: ignore[attr-defined]
    row = world.log(cid)[spam]
    assert (row.smtp_code, row.smtp_reply, row.attempts) == (
        554,
        "554 5.7.1 Message rejected as spam",
        1,
    )
    with world.db.session() as s:
        assert not is_suppressed(s, spam)


def test_retry_limit_turns_deferral_into_failure(world: World) -> None:
    world.configure(max_attempts=3)
    (grey,) = world.add(1)
    cid = world.campaign()
    with RecordingServer() as srv:
        srv.fault(grey, "451", "451", "451", "451")
        started = time.monotonic()
        result = _send(world, srv, cid)
    assert result.counts == {"failed": 1}  # type: ignore[attr-defined]
    row = world.log(cid)[grey]
    assert row.attempts == 3 and row.smtp_code == 451
    assert len(row.history.splitlines()) == 2
    # backoff 0.05 s then 0.1 s: exponential, not immediate
    assert time.monotonic() - started >= 0.15
    assert world.state(cid) == "finished"


def test_no_wait_leaves_the_campaign_finished_with_deferred(world: World) -> None:
    world.configure(retry_base_seconds=3600)
    _, grey = world.add(2)
    cid = world.campaign()
    with RecordingServer() as srv:
        srv.fault(grey, "451")
        result = _send(world, srv, cid, wait_for_retries=False)
    assert result.state == "finished with 1 deferred"  # type: ignore[attr-defined]
    assert world.state(cid) == "finished with 1 deferred"


def test_unreachable_server_pauses_without_burning_attempts(world: World) -> None:
    world.add(3)
    cid = world.campaign()
    with RecordingServer() as srv:
        port = srv.port
    transport = SmtpTransport("127.0.0.1", port, connections=2, timeout=0.5)
    with pytest.raises(OperationFailed, match=r"cannot connect to 127\.0\.0\.1.*campaigns resume"):
        run_campaign(world.db, world.settings, cid, transport)
    assert world.counts(cid) == {"queued": 3}
    assert all(d.attempts == 0 for d in world.log(cid).values())
    assert world.state(cid) == "paused"


@pytest.mark.parametrize("pipelining", [True, False])
def test_421_then_close_is_deferred_with_the_reply_verbatim(world: World, pipelining: bool) -> None:
    ok, closing = world.add(2)
    cid = world.campaign()
    with RecordingServer(pipelining=pipelining) as srv:
        srv.fault(closing, "421-close")
        transport = SmtpTransport("127.0.0.1", srv.port, timeout=0.5)
        result = run_campaign(world.db, world.settings, cid, transport)
    assert result.counts == {"sent": 2}
    assert srv.received_by() == {ok: 1, closing: 1}
    row = world.log(cid)[closing]
    assert row.attempts == 2
    assert row.history.splitlines()[0].endswith(
        "421 4.3.2 Server shutting down, closing connection"
    )


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(
    "reply", ["421 4.4.2 Idle timeout, closing connection", "503 5.5.1 Error: bad sequence"]
)
def test_a_reused_connection_that_fails_is_replaced_without_losing_an_attempt(
    world: World, pipelining: bool, reply: str
) -> None:
    # the second message's first command (RSET, or with pipelining the MAIL
    # that followed the first message's ".") finds a server that gave up
    addresses = world.add(3)
    cid = world.campaign()
    with RecordingServer(pipelining=pipelining) as srv:
        srv.fault_reused(reply)
        # nothing here waits for a timeout: a short one only turns a slow reply on a loaded
        # machine into "connection lost: timed out" (a retry), which is not what is tested
        transport = SmtpTransport("127.0.0.1", srv.port, timeout=10.0)
        result = run_campaign(world.db, world.settings, cid, transport)
    # nothing of the second message had reached the server: sending it again is safe
    assert result.counts == {"sent": 3}
    assert srv.received_by() == {a: 1 for a in addresses}
    assert all(d.attempts == 1 and d.history is None for d in world.log(cid).values())
    assert srv.handler.connections == 2


class Exploding(MaildirTransport):
    """A transport with a bug: the second message raises something nobody expected."""

    def __init__(self, outbox: Path):
        super().__init__(outbox)
        self.calls = 0

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("boom")
        return super().send(sender, recipient, data)


def test_an_internal_error_pauses_and_leaves_the_message_unknown(world: World) -> None:
    world.add(4)
    cid = world.campaign()
    outbox = world.tmp / "outbox"
    with pytest.raises(OperationFailed) as failed:
        run_campaign(world.db, world.settings, cid, Exploding(outbox))
    assert str(failed.value) == (
        f"internal error: RuntimeError('boom'); campaign {cid} is paused, "
        f"resume with: newsletter campaigns resume {cid}"
    )
    # the bytes may or may not have left: the message is not retried by default
    (row,) = [d for d in world.log(cid).values() if d.status == "unknown"]
    assert row.smtp_reply == f"{UNKNOWN_REPLY} (RuntimeError('boom'))"
    assert world.counts(cid) == {"sent": 1, "unknown": 1, "queued": 2}
    assert world.state(cid) == "paused"
    assert len(list((outbox / "new").iterdir())) == 1
