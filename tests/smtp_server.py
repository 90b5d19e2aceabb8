"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that records every message.

Faults are scripted per recipient address, consumed one per attempt, so a
test reads as "451 then accepted": ``server.fault("a@example.org", "451")``.

RCPT-time faults: ``421``, ``451``, ``550`` (5.1.1 no such user), ``552`` (5.2.2
mailbox full), ``421-close``
(421, then the connection is closed, as Postfix does when it shuts down),
``rcpt-drop`` (closed without a reply), ``rcpt-stall`` (no reply for
``stall_seconds``, then closed).
DATA-time faults, after the whole message arrived: ``554`` (rejected),
``drop`` (connection closed before the final reply), ``stall`` (no reply for
``stall_seconds``, then closed), ``slow`` (the message is stored, then the
``250`` comes after ``stall_seconds``: a slow but working server).
The first command of the next message on a reused connection (``RSET``, or
``MAIL`` right after a message's final ``.``) is scripted with
``server.fault_reused(reply, …)``; a ``421`` one closes the connection after
the reply. ``server.hold()`` makes every DATA wait (``server.held`` counts the
waiting) until ``server.release(n)`` lets ``n`` of them through: a test can
stop what it tests in the middle of a send.

``RecordingServer(slow_connections=n)`` makes the first message on each of the first ``n``
connections ``slow``, whoever it is for. ``server.handler.most_open`` is the most client
connections that were open at once.

``server.begun()`` counts, per recipient, the DATA commands the server answered with
``354`` (recorded before the ``354`` goes out): whether a message's body may have begun.

``PipelineProbe`` is a bare server of its own that tells whether a client sent
each message's successor before the answer to its final ``.`` (RFC 2920).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

RCPT_FAULTS = {
    "421": "421 4.3.2 Service shutting down",
    "451": "451 4.7.1 Greylisted, try again later",
    "550": "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    "552": "552 5.2.2 <{rcpt}>: Mailbox full",
    "421-close": "421 4.3.2 Server shutting down, closing connection",
}
DROP_FAULTS = {"rcpt-drop", "rcpt-stall"}
DATA_FAULTS = {
    "554": "554 5.7.1 Message rejected as spam",
    "drop": None,
    "stall": None,
    "slow": None,
}


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes
    at: float = field(default_factory=time.time)  # when the server took the whole message

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=default)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    pipelining: bool = True
    stall_seconds: float = 2.0
    messages: list[Received] = field(default_factory=list)
    faults: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    reused_faults: deque[str] = field(default_factory=deque)
    connections: int = 0
    greetings: list[str] = field(default_factory=list)  # every EHLO name, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Semaphore | None = None
    held: int = 0
    data_begun: list[str] = field(default_factory=list)  # a recipient per DATA answered 354
    slow_connections: int = 0  # the first message on each of the first N connections is slow
    slowed: list[str] = field(default_factory=list)  # their recipients
    open_now: int = 0  # client connections open at this moment
    most_open: int = 0  # and the most ever open at once

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        with self.lock:
            self.connections += 1
            session.number = self.connections
            self.greetings.append(hostname)
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def _reused_fault(self, server, session) -> str | None:  # type: ignore[no-untyped-def]
        """The scripted reply to the first command after a message on this connection."""
        if not getattr(session, "after_message", False):
            return None
        session.after_message = False
        if not self.reused_faults:
            return None
        reply = self.reused_faults.popleft()
        if reply.startswith("421"):
            await _reply_and_close(server, reply)
        return reply

    async def handle_RSET(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return await self._reused_fault(server, session) or "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        fault = await self._reused_fault(server, session)
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        queue = self.faults.get(address.lower())
        if queue and queue[0] in DROP_FAULTS:
            if queue.popleft() == "rcpt-stall":
                await asyncio.sleep(self.stall_seconds)
            server.transport.close()
            return "421 4.4.2 dropped"  # never reaches the client
        if queue and queue[0] in RCPT_FAULTS:
            action = queue.popleft()
            reply = RCPT_FAULTS[action].format(rcpt=address)
            if action == "421-close":
                await _reply_and_close(server, reply)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.gate is not None:
            with self.lock:
                self.held += 1
            await asyncio.get_running_loop().run_in_executor(None, self.gate.acquire)
            with self.lock:
                self.held -= 1
        slow = False
        for rcpt in envelope.rcpt_tos:
            queue = self.faults.get(rcpt.lower())
            if not queue or queue[0] not in DATA_FAULTS:
                continue
            action = queue.popleft()
            if action == "554":
                return DATA_FAULTS["554"]
            if action == "drop":
                server.transport.close()
                return "421 4.4.2 dropped"  # never reaches the client
            if action == "stall":
                await asyncio.sleep(self.stall_seconds)
                server.transport.close()
                return "421 4.4.2 too late"
            slow = action == "slow"
        if getattr(session, "number", 0) <= self.slow_connections and not getattr(
            session, "slowed", False
        ):
            session.slowed = slow = True
            with self.lock:
                self.slowed.extend(r.lower() for r in envelope.rcpt_tos)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append(Received(envelope.mail_from, rcpt, envelope.original_content))
            n = len(self.messages)
        session.after_message = True
        if slow:
            await asyncio.sleep(self.stall_seconds)
        return f"250 2.0.0 Ok: queued as Q{n:06d}"


class _BegunSMTP(SMTP):
    """aiosmtpd's server, noting each DATA it will answer with 354 before it does, and how
    many client connections are open at once."""

    counted = False

    def connection_made(self, transport):  # type: ignore[no-untyped-def]
        if not self.counted:  # STARTTLS makes a second call for the same connection
            self.counted = True
            with self.event_handler.lock:
                self.event_handler.open_now += 1
                self.event_handler.most_open = max(
                    self.event_handler.most_open, self.event_handler.open_now
                )
        super().connection_made(transport)

    def connection_lost(self, error):  # type: ignore[no-untyped-def]
        if self.counted:
            self.counted = False
            with self.event_handler.lock:
                self.event_handler.open_now -= 1
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        if envelope is not None and envelope.rcpt_tos and not arg:
            with self.event_handler.lock:
                self.event_handler.data_begun.extend(r.lower() for r in envelope.rcpt_tos)
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _BegunSMTP(self.handler, **self.SMTP_kwargs)


class RecordingServer:
    """Context manager: ``with RecordingServer() as srv: … srv.port …``."""

    def __init__(self, server_options: dict[str, object] | None = None, **handler_options: object):
        """``server_options`` go to aiosmtpd (TLS contexts, AUTH); the rest to the handler."""
        self.handler = RecordingHandler(**handler_options)  # type: ignore[arg-type]
        self.port = _free_port()
        self.controller = _Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            data_size_limit=None,
            **(server_options or {}),  # type: ignore[arg-type]
        )

    def __enter__(self) -> RecordingServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handler.gate is not None:
            self.handler.gate.release(1000)  # no DATA left waiting in an executor thread
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def fault(self, address: str, *actions: str) -> None:
        self.handler.faults[address.lower()].extend(actions)

    def fault_reused(self, *replies: str) -> None:
        self.handler.reused_faults.extend(replies)

    def hold(self) -> None:
        self.handler.gate = threading.Semaphore(0)

    def release(self, n: int = 1) -> None:
        assert self.handler.gate is not None, "hold() first"
        self.handler.gate.release(n)

    @property
    def held(self) -> int:
        with self.handler.lock:
            return self.handler.held

    def begun(self) -> dict[str, int]:
        """Per recipient, how many of its DATA commands were answered ``354``."""
        counts: dict[str, int] = defaultdict(int)
        with self.handler.lock:
            for rcpt in self.handler.data_begun:
                counts[rcpt] += 1
        return dict(counts)

    def received_by(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for m in self.messages:
            counts[m.rcpt.lower()] += 1
        return dict(counts)


async def _reply_and_close(server, reply: str) -> None:  # type: ignore[no-untyped-def]
    """Send ``reply`` and close at once, leaving pipelined commands unanswered.

    aiosmtpd then pushes the returned reply again into the closed transport,
    which drops it.
    """
    await server.push(reply)
    server.transport.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PipelineProbe:
    """A bare SMTP server on 127.0.0.1 that tells when the client sent each command.

    For every message it records in ``early`` whether the client's next
    command had already arrived when the server answered the message's final
    ``.`` (it waits ``delay`` seconds first): true only for a client that
    sends the next envelope with the body, as RFC 2920 allows. ``commands``
    lists every command line, in order.
    """

    def __init__(self, delay: float = 0.05):
        self.delay = delay
        self.early: list[bool] = []
        self.commands: list[str] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> PipelineProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()

        def line() -> bytes:
            while b"\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf.extend(chunk)
            end = buf.index(b"\r\n") + 2
            out = bytes(buf[:end])
            del buf[:end]
            return out

        conn.sendall(b"220 probe ESMTP\r\n")
        try:
            while True:
                command = line().decode().strip()
                self.commands.append(command)
                verb = command[:4].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-probe\r\n250-PIPELINING\r\n250 SIZE 100000000\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                elif verb == "DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    while line() != b".\r\n":
                        pass
                    time.sleep(self.delay)
                    conn.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        buf.extend(conn.recv(65536))
                    conn.setblocking(True)
                    self.early.append(bool(buf))
                    conn.sendall(f"250 2.0.0 Ok: queued as P{len(self.early)}\r\n".encode())
                else:
                    conn.sendall(b"250 OK\r\n")
        except (EOFError, OSError):
            return
