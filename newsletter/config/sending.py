"""The sections about how mail leaves: ``[delivery]``, ``[smtp]``, ``[dkim]`` and ``[dns]``.

Transport, rate limits, retries, the relay and its connections, signing and the resolver of
the EHLO check are one concern (getting a message accepted), tuned together and read by the
transports and the campaign runner; the organisation profile and the services around sending
live in their own modules. :mod:`newsletter.config` explains how to add a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.configschema import (
    Address,
    Boolean,
    FilePath,
    Host,
    Integer,
    NameServer,
    Number,
    OneOf,
    Text,
    Url,
    setting,
)
from newsletter.destinationconfig import DestinationSettings, DestinationTables, Inline


@dataclass(frozen=True)
class Delivery:
    """How and where messages go, and the links they carry."""

    transport: str = setting(
        "maildir",
        OneOf(("smtp", "maildir", "dry-run")),
        "Where messages go: an SMTP server (`[smtp]`), a Maildir outbox, or nowhere.",
        example="smtp",
    )
    outbox: str = setting(
        "outbox",
        FilePath(),
        "Maildir folder of the `maildir` transport (relative to this file).",
        example="outbox",
    )
    base_url: str = setting(
        "https://newsletter.example.org",
        Url(secure=True),
        "Public address of the web pages (unsubscribe, archive); goes into List-Unsubscribe.",
        example="https://news.example.org",
    )
    unsubscribe_mailto: str | None = setting(
        None,
        Address(),
        "Address of the mailto: in List-Unsubscribe.",
        default_doc="`organisation.sender_email`",
        example="unsubscribe@example.org",
    )
    bounce_domain: str | None = setting(
        None,
        Host(ip_allowed=False),
        "Domain of the VERP return path.",
        default_doc="the domain of `organisation.sender_email`",
        example="bounces.example.org",
    )
    verp: bool = setting(
        False,
        Boolean(),
        "Give each message its own return path (`bounces+TOKEN@bounce_domain`) so a bounce "
        "names the delivery it belongs to.",
        example=True,
    )
    rate_per_second: float | None = setting(
        None, Number(), "At most this many messages per second.", example=5
    )
    rate_per_minute: int | None = setting(
        None, Integer(1), "At most this many messages per minute.", example=200
    )
    rate_per_hour: int | None = setting(
        None, Integer(1), "At most this many messages per hour.", example=5000
    )
    max_attempts: int = setting(
        5, Integer(1, 100), "Attempts of a deferred message before it is failed.", example=8
    )
    retry_base_seconds: float = setting(
        60.0,
        Number(positive=False),
        "Wait before the first retry; each further retry waits twice as long.",
        example=300,
    )
    throttle_backoff_seconds: float = setting(
        60.0,
        Number(),
        "When a mailbox provider throttles us (`421`, `4.7.x`: Microsoft's `4.7.650`, Yahoo's "
        "`TSS04`, Gmail's `4.7.28`), every message to it waits this long while the other "
        "destinations go on; each further throttle in a row doubles the wait.",
        example=120,
    )
    throttle_max_backoff_seconds: float = setting(
        3600.0,
        Number(),
        "The longest wait for a throttling destination, however often it throttles.",
        example=1800,
    )
    destination_connections: int = setting(
        20,
        Integer(1, 1000),
        "Messages to one destination (a mailbox provider such as Google or Microsoft, or a "
        "domain of its own) on their way at once, at most, unless its "
        "`[delivery.destinations.<name>]` table says otherwise (Postfix's default).",
        example=5,
    )
    destinations: tuple[DestinationSettings, ...] = setting(
        (),
        DestinationTables(),
        "Per destination: `connections`, `rate_per_second`, `rate_per_minute`, a relay of "
        "its own (`relay_host`, `relay_port`, `relay_security`; [smtp]'s other settings), and "
        "for a destination not built in, its `domains` and `mx` host suffixes. See "
        "docs/deliverability.md.",
        default_doc="the built-in providers, each with `destination_connections`",
        example=Inline(microsoft={"connections": 2, "rate_per_minute": 120}),
    )
    mx_lookup_seconds: float = setting(
        10.0,
        Number(positive=False),
        "How long a run may spend, at most, looking up the MX of recipient domains that are "
        "not a known provider's (a company on Google Workspace belongs to `google`); a domain "
        "not answered in time is its own destination. 0 turns the lookups off.",
        example=30,
    )
    database_wait_seconds: float = setting(
        60.0,
        Number(),
        "How long sending waits for a database another process keeps locked (a backup, a "
        "long import) before it pauses the campaign; what was already sent is still recorded.",
        example=300,
    )
    claim_window: int = setting(
        16,
        Integer(1, 64),
        "Messages claimed ahead per connection, so no connection waits for the database. "
        "A crash (`kill -9`, power loss) can leave at most this many per connection with an "
        "unknown outcome, never sent twice, and never more than 3 per connection plus 10 in "
        "all. Rate-limited sending always claims one at a time.",
        example=2,
    )
    lease_seconds: float = setting(
        60.0,
        Number(),
        "A sender renews its lease on a campaign six times in this period; one that has not "
        "renewed it for this long counts as gone, on any host, and may be taken over.",
        example=120,
    )


@dataclass(frozen=True)
class Smtp:
    """The SMTP server of `delivery.transport = "smtp"`; the password is never in this file.

    It comes from `$NEWSLETTER_SMTP_PASSWORD` or `$NEWSLETTER_SMTP_PASSWORD_FILE` (mode 0600).
    """

    host: str = setting(
        "127.0.0.1", Host(), "The server to hand messages to.", example="mail.example.org"
    )
    port: int = setting(25, Integer(1, 65535), "Its TCP port.", example=587)
    security: str = setting(
        None,
        OneOf(("none", "starttls", "tls")),
        '`"starttls"`: upgrade with STARTTLS and refuse a server that does not offer it; '
        '`"tls"`: implicit TLS (usually port 465); `"none"`: plain text, which may carry a '
        "password only to this machine (127.0.0.1, ::1).",
        default_doc='`"starttls"` when `username` is set, else `"none"`',
        example="starttls",
    )
    username: str | None = setting(
        None, Text(one_line=True), "Log in (AUTH) with this name.", example="newsletter"
    )
    pool: int = setting(1, Integer(1, 100), "Connections used in parallel.", example=4)
    timeout: float = setting(
        30.0, Number(), "Seconds to wait for the server's reply to a command.", example=60
    )
    final_reply_timeout: float = setting(
        600.0,
        Number(),
        "Seconds to wait for the reply to the end of a message (RFC 5321 §4.5.3.2.6: ten "
        "minutes). No reply in time means the outcome is unknown, and the message is not "
        "sent again: the server may have accepted it.",
        example=300,
    )
    slow_reply_seconds: float = setting(
        5.0,
        Number(),
        "A connection whose reply is this late counts as stalled (well before `timeout` or "
        "`final_reply_timeout` decide its message's outcome): the message it announced behind "
        "its stalled one goes to the other connections, and when every connection is "
        "stalled, spare ones open (`spare_connections`).",
        example=10,
    )
    spare_connections: int | None = setting(
        None,
        Integer(0, 100),
        "Connections that may open beyond `pool` while connections of the pool are stalled "
        "(see `slow_reply_seconds`); a stalled connection closes once its reply came, so "
        "the pool returns to its size. Never more than `max_connections` in all; `0` opens "
        "none.",
        default_doc="as many as `pool`",
        example=2,
    )
    helo_name: str | None = setting(
        None,
        Host(ip_allowed=False),
        "Name this machine greets the server with (EHLO), on every connection.",
        default_doc="the machine's FQDN if it has a dot, else the domain of "
        "`organisation.sender_email`",
        example="mail.example.org",
    )
    helo_check: bool = setting(
        True,
        Boolean(),
        "Refuse to send through a relay that is not on this machine when the EHLO name "
        "(`helo_name` or its default) has no address in DNS: relays and receivers reject or "
        "score down a greeting they cannot look up. A relay on 127.0.0.1 or ::1 greets the "
        "world with its own name, so it is not checked.",
        example=False,
    )
    max_per_connection: int = setting(
        1000, Integer(1), "Messages sent over one connection before it is renewed.", example=100
    )
    max_connections: int | None = setting(
        None,
        Integer(1, 10000),
        "Connections to this server at once from all `newsletter worker` processes on every "
        "host together (PostgreSQL); each batch a worker sends takes up to `pool` of them, "
        "and waits while none is free.",
        default_doc="no limit but each worker's `pool` × `workers.concurrency`",
        example=20,
    )
    verify_certificates: bool = setting(
        True,
        Boolean(),
        "Check the server's TLS certificate and name; turn off only for a test server.",
        example=False,
    )
    ca_file: str | None = setting(
        None,
        FilePath(),
        "PEM file of the CA that signed the server's certificate.",
        default_doc="the system's CAs",
        example="/etc/ssl/certs/internal-ca.pem",
    )

    def __post_init__(self) -> None:
        # A password must not go out in clear just because nobody chose a security mode.
        if self.security is None:
            object.__setattr__(self, "security", "starttls" if self.username else "none")


@dataclass(frozen=True)
class Dkim:
    """DKIM signing of every message; off while `key_file` is unset."""

    selector: str | None = setting(
        None,
        Text(one_line=True),
        "Selector of the public key in DNS (`<selector>._domainkey.<domain>`).",
        example="news2024",
    )
    domain: str | None = setting(
        None,
        Host(ip_allowed=False),
        "Signing domain (d=).",
        default_doc="the domain of `organisation.sender_email`",
        example="example.org",
    )
    key_file: str | None = setting(
        None, FilePath(), "PEM private key (relative to this file).", example="dkim.pem"
    )


@dataclass(frozen=True)
class Dns:
    """The DNS server newsletter asks itself (the EHLO check, `newsletter doctor`)."""

    nameserver: str | None = setting(
        None,
        NameServer(),
        "Address of the DNS server to ask, `HOST` or `HOST:PORT` (`[::1]:5353` for IPv6 with "
        "a port); `doctor --nameserver` overrides it.",
        default_doc="the system's resolver (`/etc/resolv.conf`)",
        example="127.0.0.1:5353",
    )
    timeout: float = setting(5.0, Number(), "Seconds to wait for one DNS answer.", example=2)
