"""``newsletter.toml``: the organisation profile and delivery settings, as a validated schema.

Secrets never live in this file: the SMTP password and the token key come from
environment variables or from a file readable only by its owner (mode 0600),
so the config can be committed and shared.

Every key is declared once, below, as a dataclass field made with
:func:`~newsletter.configschema.setting`: its default, the kind of value it
takes (which checks it), one sentence of meaning and an example. Loading checks
every key of the file, collects every problem with its ``file:line`` and
reports them all at once (exit 2); ``docs/configuration.md`` is generated from
the same fields, so the reference cannot drift.

To add a key: add a field to its section class here, e.g.::

    helo_name: str | None = setting(
        None, Host(), "Name sent in EHLO.", example="mail.example.org"
    )

then run ``python scripts/gen_config_reference.py`` and commit
``docs/configuration.md`` (``tests/test_config.py`` fails until you do). A
new section (``[web]``) is a frozen dataclass with a docstring, which the
reference shows, and a ``field(default_factory=Web)`` on :class:`Settings`.
A check that involves two keys goes into :func:`_cross_checks`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from newsletter import languages, tomlfile
from newsletter.configschema import (
    Address,
    Boolean,
    Colour,
    DatabaseUrl,
    FilePath,
    Host,
    Integer,
    Lines,
    NameServer,
    Number,
    OneOf,
    Problems,
    Text,
    Url,
    build,
    is_loopback,
    setting,
)
from newsletter.destinationconfig import (
    DestinationSettings,
    DestinationTables,
    Inline,
)
from newsletter.errors import ConfigError, Problem

CONFIG_ENV = "NEWSLETTER_CONFIG"
DATABASE_ENV = "NEWSLETTER_DATABASE_URL"
DEFAULT_CONFIG = "newsletter.toml"


@dataclass(frozen=True)
class Colours:
    """The theme's colours (`#rrggbb` or `#rgb`)."""

    primary: str = setting("#1f4e79", Colour(), "Headings and the masthead.", example="#a3111c")
    accent: str = setting(
        "#c0392b",
        Colour(),
        "Buttons; their label is white, or the text colour where white would be unreadable.",
        example="#a3111c",
    )
    text: str = setting("#1a1a1a", Colour(), "Body text.", example="#1a1a1a")
    muted: str = setting("#5c5c5c", Colour(), "Captions, dates and the footer.", example="#595959")
    background: str = setting("#f2f4f7", Colour(), "Around the message.", example="#f2f2f2")
    surface: str = setting("#ffffff", Colour(), "Behind the text.", example="#ffffff")


@dataclass(frozen=True)
class Organisation:
    """Who sends the newsletter; every rendered issue carries this in its footer."""

    name: str = setting(
        "Example Newsletter", Text(one_line=True), "The organisation's name.", example="Riverside"
    )
    website: str = setting(
        "https://example.org", Url(), "Linked from the footer.", example="https://example.net"
    )
    sender_name: str = setting(
        "Example Newsletter",
        Text(one_line=True),
        "Display name in the From header.",
        example="ISA-Newsletter",
    )
    sender_email: str = setting(
        "newsletter@example.org",
        Address(),
        "Address in From and the envelope sender (Return-Path) unless VERP is on; "
        "also the DKIM domain unless `dkim.domain` is set.",
        example="newsletter@example.org",
    )
    reply_to: str | None = setting(
        None,
        Address(),
        "Reply-To header; replies go to From without it.",
        example="isa@example.org",
    )
    postal_address: str = setting(
        "Example Street 1, 12345 Example City",
        Text(),
        "Postal address in the footer (required by CAN-SPAM and the German Impressum rules).",
        example="Reinhardtstraße 34, 10117 Berlin",
    )
    about: tuple[str, ...] = setting(
        (), Lines(), "Paragraphs about the organisation, in the footer.", example=["We are …"]
    )
    contact: tuple[str, ...] = setting(
        (),
        Lines(),
        "Contact block in the footer; the first line is its heading.",
        example=["Contact", "hello@example.org"],
    )
    logo: str | None = setting(
        None, Url(), "Image URL shown in the header.", example="https://example.org/logo.png"
    )
    logo_alt: str | None = setting(
        None,
        Text(one_line=True),
        "Alt text of the logo.",
        default_doc="the organisation's name",
        example="Riverside Makerspace logo",
    )
    language: str = setting(
        "en",
        Text(one_line=True),
        "Language of the footer and dates: a BCP 47 tag with a translation catalog "
        "(docs/languages.md), e.g. `fr`, `zh-Hans`, `ar`.",
        example="de",
    )
    templates_dir: str | None = setting(
        None,
        FilePath(),
        "Folder whose templates override the default theme's, file by file (relative to this "
        "file).",
        example="templates",
    )
    contents: bool = setting(
        False,
        Boolean(),
        'An "In this issue" list of the article titles, each a jump to its article, before the '
        "editorial (issues with two articles or more).",
        example=True,
    )
    colours: Colours = field(default_factory=Colours)


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
class Inbound:
    """Reading bounces, complaints and unsubscribe mails (`newsletter inbound process`).

    The bounce policy follows Mailman 3's defaults. The IMAP password comes from
    `$NEWSLETTER_IMAP_PASSWORD` or `$NEWSLETTER_IMAP_PASSWORD_FILE` (mode 0600).
    """

    suppress_hard_bounces: bool = setting(
        True,
        Boolean(),
        "Suppress an address at its first hard bounce (the mailbox does not exist); "
        "`false` makes hard bounces only add to the score.",
        example=False,
    )
    soft_bounce_score: float = setting(
        0.5, Number(), "Added to the bounce score by a soft bounce, at most once a day.", example=1
    )
    bounce_score_threshold: float = setting(
        5.0, Number(), "The address is suppressed when its bounce score reaches this.", example=3
    )
    bounce_score_reset_days: int = setting(
        7, Integer(1), "Days without a bounce after which the score starts again.", example=14
    )
    trust_recipient_only: bool = setting(
        False,
        Boolean(),
        "Act on bounces that name one of our recipients but carry neither our VERP token nor "
        "our signed Message-ID (only for a relay that strips both). Risk: anyone can then "
        "mail a fake bounce that suppresses or scores a subscriber. Complaints never act on "
        "such evidence.",
        example=True,
    )
    processed_folder: str = setting(
        ".Processed",
        Text(one_line=True),
        "Maildir subfolder that messages recognised as ours are moved to.",
        example=".Bounces",
    )
    imap_processed_folder: str = setting(
        "Processed",
        Text(one_line=True),
        "IMAP folder that messages recognised as ours are moved to.",
        example="INBOX.Processed",
    )
    imap_flag: str = setting(
        "$NewsletterProcessed",
        Text(one_line=True),
        "IMAP keyword set on messages recognised as ours.",
        example="$Processed",
    )
    imap_move: bool = setting(
        True,
        Boolean(),
        "Move messages recognised as ours to `imap_processed_folder`; `false` only flags them.",
        example=False,
    )
    imap_ca_file: str | None = setting(
        None,
        FilePath(),
        "PEM file of the CA that signed the IMAP server's certificate.",
        default_doc="the system's CAs",
        example="/etc/ssl/certs/internal-ca.pem",
    )
    ses_topic_arns: tuple[str, ...] = setting(
        (),
        Lines(),
        "SNS topics whose Amazon SES events `POST /webhooks/ses` accepts; a validly signed "
        "message from any other topic is refused (anyone can sign for a topic of their own).",
        example=["arn:aws:sns:eu-west-1:123456789012:ses-bounces"],
    )
    webhook_max_age_seconds: int = setting(
        300,
        Integer(1),
        "Relay webhook events older than this, or from further in the future, are refused "
        "(replay protection).",
        example=600,
    )


@dataclass(frozen=True)
class Web:
    """The subscriber web (`newsletter serve`): sign-up, confirmation and their limits."""

    confirm_days: int = setting(
        7,
        Integer(1, 365),
        "Days a confirmation link stays valid (unsubscribe links never expire).",
        example=3,
    )
    confirmations_per_address_per_day: int = setting(
        3,
        Integer(1, 100),
        "At most this many confirmation mails to one address in 24 hours, so the sign-up "
        "form cannot be used to mail-bomb anyone.",
        example=2,
    )
    signups_per_client_per_hour: int = setting(
        20,
        Integer(1, 100000),
        "Sign-up posts one client address may make per hour; more get 429.",
        example=10,
    )
    max_body_bytes: int = setting(
        16384,
        Integer(1024, 1048576),
        "Request bodies over this many bytes are refused with 413.",
        example=8192,
    )
    mail_attempts: int = setting(
        8,
        Integer(1, 100),
        "Attempts of a confirmation or welcome mail the server defers (4xx, unreachable) "
        "before it is failed; each stays queued in the database, across restarts.",
        example=5,
    )
    mail_retry_seconds: float = setting(
        30.0,
        Number(),
        "Wait before the first retry of a deferred confirmation or welcome mail; each further "
        "retry waits twice as long (the default tries for about an hour: greylisting passes).",
        example=60,
    )
    welcome_dir: str = setting(
        "welcome",
        FilePath(),
        "Folder of welcome mails, one `<list>.yaml` per list (relative to this file); "
        "a list without one sends none.",
        example="welcome",
    )


@dataclass(frozen=True)
class Workers:
    """`newsletter worker`: delivery workers on PostgreSQL (procrastinate), and schedules.

    On PostgreSQL, `campaigns send --enqueue` cuts a campaign into batches that any number of
    workers on any number of hosts send; the rate limits of `[delivery]` then hold for all of
    them together. On SQLite, a worker only starts scheduled campaigns.
    """

    queue: str = setting(
        "newsletter",
        Text(one_line=True),
        "The procrastinate queue campaigns are enqueued on and workers take them from.",
        example="isa",
    )
    batch_size: int = setting(
        1000,
        Integer(10, 1000000),
        "Deliveries per batch: one job sends one batch; a worker that dies loses at most "
        "the batch it held, to another worker.",
        example=500,
    )
    concurrency: int = setting(
        1,
        Integer(1, 32),
        "Batches one worker process sends at once, each over its own `smtp.pool` connections.",
        example=2,
    )
    stalled_seconds: float = setting(
        30.0,
        Number(),
        "A worker renews its heartbeat three times in this period; one that has not for this "
        "long counts as dead, and another worker takes over its batch.",
        example=60,
    )
    poll_seconds: float = setting(
        5.0,
        Number(),
        "How often an idle worker looks for work it was not told about: due schedules on "
        "SQLite, and jobs and dead workers on PostgreSQL.",
        example=1,
    )


@dataclass(frozen=True)
class Media:
    """The editor's local images (`image: {src: img/photo.jpg}`): how subscribers get them.

    `hosted` publishes them with the web archive and the mail loads them from `base_url`,
    which tells that server when a reader opened the mail, from which address; `inline`
    embeds them in every message (larger mail, no request when it is opened).
    """

    mode: str = setting(
        "hosted",
        OneOf(("hosted", "inline")),
        "`hosted`: images under `<base_url>/archive/media/`, published by `archive build` "
        "and `serve`; `inline`: images embedded in each message (`multipart/related`), so "
        "opening it requests nothing.",
        example="inline",
    )
    column_width: int = setting(
        552,
        Integer(100, 1200),
        "Width in CSS pixels images are fitted to (the theme's column less its padding); "
        "the file is twice as wide for high-density screens.",
        example=552,
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


@dataclass(frozen=True)
class Settings:
    organisation: Organisation = field(default_factory=Organisation)
    delivery: Delivery = field(default_factory=Delivery)
    smtp: Smtp = field(default_factory=Smtp)
    dkim: Dkim = field(default_factory=Dkim)
    inbound: Inbound = field(default_factory=Inbound)
    web: Web = field(default_factory=Web)
    workers: Workers = field(default_factory=Workers)
    media: Media = field(default_factory=Media)
    dns: Dns = field(default_factory=Dns)
    database_url: str = setting(
        "sqlite:///newsletter.sqlite",
        DatabaseUrl(),
        "SQLAlchemy URL of the database; a relative SQLite path is relative to this file. "
        "`--database` and `$NEWSLETTER_DATABASE_URL` override it.",
        example="postgresql://newsletter@db.example.org/newsletter",
        toml="database.url",
        section_doc="Where subscribers, campaigns and the delivery log are kept.",
    )
    source: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config are relative to the config file."""
        return self.source.parent if self.source else Path.cwd()

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def templates_dir(self) -> Path | None:
        d = self.organisation.templates_dir
        return self.path(d) if d else None


# --- loading -----------------------------------------------------------------------------------


def _cross_checks(s: Settings, problems: Problems) -> None:
    """Checks that involve more than one key."""
    if s.smtp.username and s.smtp.security == "none" and not is_loopback(s.smtp.host):
        problems.add(
            "smtp.security",
            f'"none" would send the password of smtp.username in clear to {s.smtp.host}; '
            'use "starttls" or "tls" (plain text is allowed only to 127.0.0.1 or ::1)',
        )
    languages.use_theme_dir(s.templates_dir)
    if not languages.is_available(s.organisation.language):
        problems.add("organisation.language", languages.unknown_message(s.organisation.language))
    if s.dkim.key_file and not s.dkim.selector:
        problems.add("dkim.selector", "is required with dkim.key_file")


def _sqlite_relative_to(url: str, base: Path) -> str:
    """A relative SQLite path in the config file means: next to the config file.

    Like every other path in the file (outbox, templates, DKIM key), so the
    same config works from any working directory. URLs given on the command
    line or in ``$NEWSLETTER_DATABASE_URL`` stay relative to the current one.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path.startswith(("/", "~", ":memory:")) or path.startswith("file:"):
        return url
    return prefix + str(base / path)


def parse_settings(text: str, file: str, source: Path | None = None) -> Settings:
    """Settings from a ``newsletter.toml``'s text; all problems in one :class:`ConfigError`."""
    data = tomlfile.load(text, file)
    problems = Problems(file, tomlfile.key_lines(text))
    settings: Settings = build(Settings, data, problems, source=source)
    if source is not None and isinstance(data.get("database"), dict):
        relative = _sqlite_relative_to(settings.database_url, source.parent)
        settings = replace(settings, database_url=relative)
    _cross_checks(settings, problems)
    if problems.found:
        raise ConfigError(problems.found)
    return settings


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ConfigError:
    """Where the first byte that is not UTF-8 is, and what to do (TOML is UTF-8 only)."""
    before = exc.object[: exc.start]
    line = before.count(b"\n") + 1
    column = exc.start - (before.rfind(b"\n") + 1) + 1
    byte = exc.object[exc.start]
    return ConfigError(
        [
            Problem(
                f"not UTF-8 text (byte 0x{byte:02x}); TOML files are UTF-8: save it as "
                "UTF-8 in your editor, or convert it with iconv -f latin1 -t utf-8",
                file=str(path),
                line=line,
                column=column,
            )
        ]
    )


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from ``path``, ``$NEWSLETTER_CONFIG`` or ``./newsletter.toml``.

    Without any file the embedded defaults apply, so a fresh checkout works.
    ``NEWSLETTER_DATABASE_URL`` overrides the database URL from the file.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    p = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if p.exists():
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(p)) from exc
        except UnicodeDecodeError as exc:
            raise _not_utf8(p, exc) from None
        settings = parse_settings(text, str(p), p.resolve())
    elif explicit:
        raise ConfigError("config file not found", file=str(p))
    else:
        settings = Settings()
    env_db = os.environ.get(DATABASE_ENV)
    if env_db:
        settings = replace(settings, database_url=env_db)
    return settings


def read_secret(name: str, *, file_setting: str | None = None) -> str | None:
    """Return the secret from ``$NAME`` or from ``$NAME_FILE`` (which must be mode 0600).

    A secret file readable by group or others is refused rather than used,
    because a leaked SMTP password or token key cannot be taken back.
    """
    value = os.environ.get(name)
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE") or file_setting
    if not file_name:
        return None
    fp = Path(file_name)
    try:
        mode = fp.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read secret file: {exc.strerror}", file=str(fp)) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {fp}",
            file=str(fp),
        )
    return fp.read_text(encoding="utf-8").strip()
