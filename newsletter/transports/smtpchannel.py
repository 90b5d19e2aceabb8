"""One SMTP connection and its transactions: how a message goes out and what its reply means.

``smtplib`` does the connection setup (TLS, STARTTLS, EHLO, AUTH); the
per-message transaction is ours, because smtplib waits for each reply in turn
and re-scans every message for dot-stuffing. With PIPELINING (RFC 2920) a
message costs one round trip: its body and final ``.`` go out in one write
with the next message's ``MAIL RCPT DATA``, whose replies (in order, after
this message's own) the next message reads. A composed message is
``DotSafe`` (no line starts with ``.``), so its body goes out as is.

Every reply is kept verbatim, a 421 sent just before the server hangs up
included. A dropped connection or a timeout before the final ``.`` defers
the message (the server cannot have accepted it) and the next message
reconnects; a reused connection that fails before the body is sent (an idle
timeout) is replaced at once. After the final ``.`` the server may already
have queued the message, so a timeout or a drop while waiting for its reply
(which RFC 5321 §4.5.3.2.6 allows to take ten minutes) is ``unknown``, never
retried: a retry there is how slow servers get every message twice.

Kept apart from :mod:`newsletter.transports.smtp` (settings, TLS, AUTH, the pool) because
this is where a message's outcome is decided byte by byte; it needs from its transport only
what :class:`Connects` names.
"""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable
from typing import Protocol

from newsletter.transports.base import (
    DEFERRED,
    FAILED,
    UNKNOWN,
    DotSafe,
    Envelope,
    Outcome,
    classify,
)

BODY_NOT_BEGUN = "not sent: the start of its body could not be recorded, so it was not begun"
_MAXLINE = 8192


class Connects(Protocol):
    """What a channel needs from its transport: where, how long to wait, and a connection."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def final_reply_timeout(self) -> float: ...
    @property
    def max_per_connection(self) -> int: ...
    def connect(self) -> smtplib.SMTP: ...


class _Stale(Exception):
    """A reused connection failed before the message's body was sent."""


# Replies to the first command on a reused connection that are about the
# connection, not the message: the server is closing (an idle timeout), or it
# still holds a transaction we think is over. Nothing of the message has
# reached it, so a fresh connection is safe.
_STALE_CODES = (421, 503)


class SmtpChannel:
    """One connection, opened lazily and reopened after a drop or a quota.

    With PIPELINING a message costs one round trip: the next message's
    envelope (``MAIL RCPT DATA``) goes out in the same write as this one's
    body and final ``.``, as RFC 2920 allows (message content may start a
    group), so the next ``send`` finds its replies waiting.
    """

    takes_following = True  # send() accepts the next message's envelope
    asks_before_body = True  # send() calls ``begin`` between the 354 and the body

    def __init__(self, transport: Connects):
        self.t = transport
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0
        self.pipelining = False
        self.size_limit = 0
        # the envelope sent after the last body, its replies not read yet
        self.announced: Envelope | None = None
        # since when (monotonic) the channel waits for a server reply; None while it does not
        self.waiting_since: float | None = None

    def _connect(self) -> smtplib.SMTP:
        conn = self.t.connect()
        self.pipelining = conn.has_extn("pipelining")
        size = conn.esmtp_features.get("size", "")
        self.size_limit = int(size) if size.isdigit() else 0
        self.sent_on_conn = 0
        return conn

    def _reply(self, conn: smtplib.SMTP) -> tuple[int, str]:
        """Read one (possibly multi-line) reply, kept verbatim."""
        if conn.file is None:
            conn.file = conn.sock.makefile("rb")  # type: ignore[union-attr]
        lines = []
        self.waiting_since = time.monotonic()
        try:
            while True:
                line = conn.file.readline(_MAXLINE + 1)
                if not line:
                    raise smtplib.SMTPServerDisconnected("connection closed by server")
                lines.append(line.rstrip(b"\r\n").decode("utf-8", errors="replace"))
                if line[3:4] != b"-":
                    break
        finally:
            self.waiting_since = None
        try:
            code = int(lines[-1][:3])
        except ValueError:
            code = 0
        return code, "\n".join(lines)

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        following: Envelope | None = None,
        begin: Callable[[], bool] | None = None,
    ) -> Outcome:
        """One SMTP transaction; never raises for a per-message problem.

        ``following`` is the envelope of the message the next call will send,
        when it is already known: it is announced after this message's body.
        A next call with another message drops the connection instead (the
        server is waiting for a body, and a lone ``.`` would send an empty
        message) and starts afresh.

        ``begin`` is called once the server said ``354``, before the first byte
        of the body: the sender records there that the body begins. When it
        returns False the connection is dropped without a byte of the body (never
        a truncated or empty message) and the message is reported not sent.
        """
        announced = self.announced
        if announced is not None and announced != Envelope(sender, recipient, len(data)):
            self._drop()
            announced = None
        self.announced = None
        if self.conn is not None and self.sent_on_conn >= self.t.max_per_connection:
            self.close()
        if self.conn is None:
            self.conn = self._connect()
        try:
            try:
                return self._transaction(
                    self.conn, sender, recipient, data, announced is not None, following, begin
                )
            except _Stale:
                # An idle connection the server has given up on; nothing of
                # this message reached it, so a fresh connection is safe.
                self._drop()
                self.conn = self._connect()
                return self._transaction(
                    self.conn, sender, recipient, data, False, following, begin
                )
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            what = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else str(exc)
            return Outcome(DEFERRED, None, f"connection lost: {what}")

    def _envelope(
        self, conn: smtplib.SMTP, sender: str, rcpt: str, size: int
    ) -> list[bytes] | Outcome:
        """``MAIL RCPT DATA`` for one message, or why it cannot be sent here."""
        mail = f"MAIL FROM:<{sender}>"
        if self.size_limit or "size" in conn.esmtp_features:
            mail += f" SIZE={size}"
        if not (sender.isascii() and rcpt.isascii()):
            # a UTF-8 mailbox name (RFC 6531); compose gives domains in ASCII
            if "smtputf8" not in conn.esmtp_features:
                return Outcome(
                    FAILED,
                    None,
                    f"not sent: the mailbox name needs SMTPUTF8, "
                    f"which {self.t.host}:{self.t.port} does not offer",
                )
            mail += " SMTPUTF8"
        return [f"{mail}\r\n".encode(), f"RCPT TO:<{rcpt}>\r\n".encode(), b"DATA\r\n"]

    def _read(self, conn: smtplib.SMTP, n: int) -> list[tuple[int, str]]:
        """Read ``n`` pipelined replies.

        A server that closes after an error reply (421 does) leaves the later
        commands unanswered: the replies read so far are returned.
        """
        replies: list[tuple[int, str]] = []
        try:
            for _ in range(n):
                replies.append(self._reply(conn))
        except (OSError, smtplib.SMTPException):
            if not any(code >= 400 for code, _ in replies):
                raise
            self._drop()
        return replies

    def _replies(self, conn: smtplib.SMTP, commands: list[bytes]) -> list[tuple[int, str]]:
        """Send the commands (pipelined when offered) and read their replies.

        Stops at the first error reply without pipelining.
        """
        if self.pipelining:
            conn.sock.sendall(b"".join(commands))  # type: ignore[union-attr]
            return self._read(conn, len(commands))
        replies: list[tuple[int, str]] = []
        for cmd in commands:
            conn.sock.sendall(cmd)  # type: ignore[union-attr]
            replies += self._read(conn, 1)
            if replies[-1][0] >= 400:
                break
        return replies

    def _opening(
        self, conn: smtplib.SMTP, sender: str, rcpt: str, size: int, announced: bool
    ) -> list[tuple[int, str]] | Outcome:
        """The replies to this message's ``MAIL RCPT DATA``, sending them unless announced.

        A reused connection starts with ``RSET`` unless the envelope followed
        the last message's final ``.`` (which ends a transaction in any case).
        """
        if announced:
            try:
                replies = self._read(conn, 3)
            except (OSError, smtplib.SMTPException) as exc:
                if isinstance(exc, TimeoutError | socket.timeout):
                    raise
                raise _Stale(str(exc)) from exc
            if replies[0][0] in _STALE_CODES:
                raise _Stale(replies[0][1])
        else:
            reused = self.sent_on_conn > 0
            envelope = self._envelope(conn, sender, rcpt, size)
            if isinstance(envelope, Outcome):
                return envelope
            if reused:
                envelope.insert(0, b"RSET\r\n")
            try:
                replies = self._replies(conn, envelope)
            except (OSError, smtplib.SMTPException) as exc:
                if reused and not isinstance(exc, TimeoutError | socket.timeout):
                    raise _Stale(str(exc)) from exc
                raise
            if reused:
                code, text = replies.pop(0)
                if code >= 400:  # about the connection, not this message
                    raise _Stale(text)
        self.sent_on_conn += 1
        return replies

    def _transaction(
        self,
        conn: smtplib.SMTP,
        sender: str,
        rcpt: str,
        data: bytes,
        announced: bool,
        following: Envelope | None,
        begin: Callable[[], bool] | None,
    ) -> Outcome:
        replies = self._opening(conn, sender, rcpt, len(data), announced)
        if isinstance(replies, Outcome):
            return replies
        for code, text in replies[:2]:
            if code >= 400:
                if code == 421 or (len(replies) > 2 and replies[2][0] == 354):
                    self._drop()  # closing, or a broken server waiting for a body
                return classify(code, text)
        code, text = replies[2]
        if code != 354:
            if code == 421:
                self._drop()
            return classify(code, text)
        if not isinstance(data, DotSafe) and (data.startswith(b".") or b"\n." in data):
            data = data.replace(b"\n.", b"\n..")
            if data.startswith(b"."):
                data = b"." + data
        tail = b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"
        if begin is not None and not begin():
            self._drop()  # the server waits for a body: closing is the only way not to send one
            return Outcome(DEFERRED, None, BODY_NOT_BEGUN)
        ahead = self._ahead(conn, following)
        # One write: the body, its final "." and the next envelope. Written by
        # hand to know whether the "." left when a write fails: before it, the
        # server cannot have the message (deferred); after it, it may have.
        payload = memoryview(data + tail + ahead)
        whole, written = len(data) + len(tail), 0
        try:
            while written < len(payload):
                written += conn.sock.send(payload[written:])  # type: ignore[union-attr]
        except OSError:
            if written < whole:
                raise
            ahead = b""  # the envelope did not go out whole: the connection is done
        try:
            conn.sock.settimeout(self.t.final_reply_timeout)  # type: ignore[union-attr]
            code, text = self._reply(conn)
            conn.sock.settimeout(self.t.timeout)  # type: ignore[union-attr]
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            what = "no reply in time" if isinstance(exc, TimeoutError) else str(exc)
            return Outcome(
                UNKNOWN,
                None,
                f"outcome unknown: {what} after the whole message was sent; the server may "
                "have accepted it, so it is not sent again unless resumed with --resend-unknown",
            )
        if code == 421 or written < len(payload):
            self._drop()
        elif ahead:
            self.announced = following
        return classify(code, text)

    def _ahead(self, conn: smtplib.SMTP, following: Envelope | None) -> bytes:
        """The next message's envelope to send after this body, when it may go now."""
        if following is None or not self.pipelining:
            return b""
        if self.sent_on_conn >= self.t.max_per_connection:
            return b""  # its quota is used up: the next message gets a new connection
        envelope = self._envelope(conn, following.sender, following.recipient, following.size)
        return b"" if isinstance(envelope, Outcome) else b"".join(envelope)

    def _drop(self) -> None:
        """Forget a broken connection without the QUIT dance."""
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.announced = None

    def close(self) -> None:
        if self.announced is not None:
            self._drop()  # the server waits for a body: QUIT would be taken for one
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
        self.conn = None
