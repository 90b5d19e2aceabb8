"""The ``smtp`` transport: a pool of reused, pipelined SMTP connections.

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
retried: a retry there is how slow servers get every message twice. Failing
to connect at all raises ``TransportUnavailable`` before anything is sent, so
the run can stop instead of burning retries. A password never crosses an
unencrypted connection except to this machine (a local relay on 127.0.0.1 or
::1).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.config import Settings, read_secret
from newsletter.configschema import is_loopback
from newsletter.errors import ConfigError
from newsletter.transports.base import (
    DEFERRED,
    FAILED,
    UNKNOWN,
    DotSafe,
    Envelope,
    Outcome,
    TransportUnavailable,
    classify,
)
from newsletter.transports.helo import check_helo_name, helo_name

PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"
BODY_NOT_BEGUN = "not sent: the start of its body could not be recorded, so it was not begun"
_MAXLINE = 8192


@dataclass(frozen=True)
class SmtpTransport:
    """Connection settings shared by every channel of the pool."""

    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    connections: int = 1
    timeout: float = 30.0
    final_reply_timeout: float = 600.0
    # a reply this late marks the connection stalled (campaigns/connections.py): what waits
    # behind it goes to other connections, and up to ``spare_connections`` more may open
    slow_reply_seconds: float | None = 5.0
    spare_connections: int = 0
    max_per_connection: int = 1000
    verify_certificates: bool = True
    ca_file: str | None = None
    local_hostname: str | None = None
    name: str = "smtp"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SmtpTransport:
        """Build from ``[smtp]``; the password comes only from the environment."""
        s = settings.smtp
        values: dict[str, object] = {
            "host": s.host,
            "port": s.port,
            "security": s.security,
            "username": s.username,
            "connections": s.pool,
            "timeout": s.timeout,
            "final_reply_timeout": s.final_reply_timeout,
            "slow_reply_seconds": s.slow_reply_seconds,
            "spare_connections": spare_connections(s.pool, s.spare_connections, s.max_connections),
            "local_hostname": helo_name(settings),
            "max_per_connection": s.max_per_connection,
            "verify_certificates": s.verify_certificates,
            "ca_file": str(settings.path(s.ca_file)) if s.ca_file else None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        check_helo_name(settings, str(values["host"]))
        if values["username"]:
            values["password"] = read_secret(PASSWORD_ENV)
            if values["password"] is None:
                raise ConfigError(f"smtp.username is set but ${PASSWORD_ENV} is not")
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        tls = {"none": "plain", "starttls": "STARTTLS", "tls": "TLS"}[self.security]
        n = self.connections
        return f"smtp {self.host}:{self.port} ({tls}, {n} connection{'s' if n != 1 else ''})"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_certificates:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def open_channel(self) -> SmtpChannel:
        return SmtpChannel(self)


def spare_connections(pool: int, spare: int | None, most: int | None) -> int:
    """Connections that may open beyond the pool while all of it is stalled.

    ``spare`` unset means as many as the pool; never beyond the relay's ``most``.
    """
    n = pool if spare is None else spare
    return max(0, min(n, most - pool)) if most is not None else n


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

    def __init__(self, transport: SmtpTransport):
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
        t = self.t
        try:
            if t.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    t.host, t.port, t.local_hostname, timeout=t.timeout, context=t.ssl_context()
                )
            else:
                conn = smtplib.SMTP(t.host, t.port, t.local_hostname, timeout=t.timeout)
            conn.ehlo()
            if t.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise TransportUnavailable(
                        f"{t.host}:{t.port} does not offer STARTTLS; refusing to send in clear"
                    )
                conn.starttls(context=t.ssl_context())
                conn.ehlo()
            if t.username:
                if t.security == "none" and not is_loopback(conn.sock.getpeername()[0]):  # type: ignore[union-attr]
                    conn.close()
                    raise TransportUnavailable(
                        f"refusing to send the password for {t.username} to {t.host}:{t.port} "
                        'in clear; set [smtp] security = "starttls" or "tls"'
                    )
                self._login(conn)
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportUnavailable(
                f"{t.host}:{t.port} refused the login for {t.username}: {exc.smtp_code} "
                f"{exc.smtp_error.decode(errors='replace')}"  # type: ignore[union-attr]
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"cannot connect to {t.host}:{t.port}: {exc}") from exc
        self.pipelining = conn.has_extn("pipelining")
        size = conn.esmtp_features.get("size", "")
        self.size_limit = int(size) if size.isdigit() else 0
        self.sent_on_conn = 0
        return conn

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH PLAIN when offered (over TLS it is the simplest), else smtplib's pick.

        One mechanism only: smtplib.login() tries the next one after a 535,
        which with some servers turns a wrong password into a timeout.
        """
        t = self.t
        if "plain" in conn.esmtp_features.get("auth", "").lower().split():
            conn.user, conn.password = t.username or "", t.password or ""
            conn.auth("PLAIN", conn.auth_plain)
        else:
            conn.login(t.username or "", t.password or "")

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
