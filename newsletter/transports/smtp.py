"""The ``smtp`` transport: settings, connection setup, and a pool of pipelined channels.

``smtplib`` does the connection setup (TLS, STARTTLS, EHLO, AUTH), here, where the settings
are: failing to connect at all raises ``TransportUnavailable`` before anything is sent, so
the run can stop instead of burning retries, and a password never crosses an unencrypted
connection except to this machine (a local relay on 127.0.0.1 or ::1). The per-message
transaction on one connection (pipelining, verbatim replies, when an outcome is unknown) is
:mod:`newsletter.transports.smtpchannel`; :class:`SmtpChannel` is importable from here too.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from newsletter.config import Settings, read_secret
from newsletter.configschema import is_loopback
from newsletter.errors import ConfigError
from newsletter.transports.base import TransportUnavailable
from newsletter.transports.helo import check_helo_name, helo_name

# BODY_NOT_BEGUN is re-exported: the channel's words, importable from the transport
from newsletter.transports.smtpchannel import BODY_NOT_BEGUN as BODY_NOT_BEGUN
from newsletter.transports.smtpchannel import SmtpChannel

PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"


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

    def connect(self) -> smtplib.SMTP:
        """A connection ready for a transaction: TLS as configured, EHLO, AUTH.

        Failing to connect at all raises :class:`TransportUnavailable`.
        """
        try:
            if self.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    self.local_hostname,
                    timeout=self.timeout,
                    context=self.ssl_context(),
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, self.local_hostname, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise TransportUnavailable(
                        f"{self.host}:{self.port} does not offer STARTTLS; "
                        "refusing to send in clear"
                    )
                conn.starttls(context=self.ssl_context())
                conn.ehlo()
            if self.username:
                if self.security == "none" and not is_loopback(conn.sock.getpeername()[0]):  # type: ignore[union-attr]
                    conn.close()
                    raise TransportUnavailable(
                        f"refusing to send the password for {self.username} to "
                        f"{self.host}:{self.port} in clear; "
                        'set [smtp] security = "starttls" or "tls"'
                    )
                self._login(conn)
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportUnavailable(
                f"{self.host}:{self.port} refused the login for {self.username}: {exc.smtp_code} "
                f"{exc.smtp_error.decode(errors='replace')}"  # type: ignore[union-attr]
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH PLAIN when offered (over TLS it is the simplest), else smtplib's pick.

        One mechanism only: smtplib.login() tries the next one after a 535,
        which with some servers turns a wrong password into a timeout.
        """
        if "plain" in conn.esmtp_features.get("auth", "").lower().split():
            conn.user, conn.password = self.username or "", self.password or ""
            conn.auth("PLAIN", conn.auth_plain)
        else:
            conn.login(self.username or "", self.password or "")


def spare_connections(pool: int, spare: int | None, most: int | None) -> int:
    """Connections that may open beyond the pool while all of it is stalled.

    ``spare`` unset means as many as the pool; never beyond the relay's ``most``.
    """
    n = pool if spare is None else spare
    return max(0, min(n, most - pool)) if most is not None else n
