"""The sections of the long-running services: ``[inbound]``, ``[web]`` and ``[workers]``.

Reading bounces, serving the subscriber pages and running workers each happen in a process of
their own beside sending; their settings (limits, folders, queues) are read by those services
only, so they live apart from the profile and the sending sections.
:mod:`newsletter.config` explains how to add a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.configschema import Boolean, FilePath, Integer, Lines, Number, Text, setting


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
