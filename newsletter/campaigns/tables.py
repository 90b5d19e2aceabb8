"""The campaign and delivery tables: what was sent to whom, and how it went.

A ``Campaign`` snapshots the rendered issue (subject, HTML, text) and, as
``Delivery`` rows, its recipients at creation, so what goes out is exactly
what was checked, however the issue file or the list change afterwards.
An issue in several languages is one campaign: the campaign row holds the
primary edition, a ``CampaignEdition`` row each other one, and every
delivery names the edition (language) its recipient gets.

A ``Delivery`` is the log of one recipient: its state, how many attempts,
the server's last reply verbatim, the queue id, and when it was queued,
claimed and finished. There is deliberately no column for opens or clicks.
Change these tables only together with a new migration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.db.columns import UTCDateTime, utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"  # a proof that could not be delivered


class DeliveryStatus(StrEnum):
    """A delivery's state; the ``FINAL`` ones are never attempted again."""

    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender, outcome not yet recorded
    SENT = "sent"
    DEFERRED = "deferred"  # will be retried at next_attempt_at
    FAILED = "failed"
    BOUNCED = "bounced"  # address suppressed
    UNKNOWN = "unknown"  # the sender died mid-flight: maybe delivered
    SKIPPED = "skipped"  # unsubscribed or suppressed after the snapshot
    CANCELLED = "cancelled"


FINAL = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.CANCELLED,
    }
)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=32)
    kind: str = Field(default="campaign", max_length=16)  # campaign | proof
    issue_slug: str = Field(max_length=64, index=True)
    issue_source: str | None = Field(default=None, max_length=1000)
    list_id: int | None = Field(
        default=None, sa_column_args=[sa.ForeignKey("mailing_list.id", ondelete="SET NULL")]
    )
    list_slug: str = Field(max_length=64)
    list_name: str = Field(max_length=200)
    subject: str
    html: str
    text: str
    language: str | None = Field(default=None, max_length=35)
    status: str = Field(default=CampaignStatus.DRAFT.value, max_length=16)
    recipients: int = 0
    transport: str | None = Field(default=None, max_length=200)
    # The sender's lease while one holds the campaign (see SenderLease). No
    # foreign key: the two tables would reference each other.
    lease_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When a draft is to start by itself (UTC), and the zone the editor gave
    # it in; newsletter.workers starts it. On PostgreSQL the start is a
    # procrastinate job, whose id lets unscheduling cancel it.
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    schedule_zone: str | None = Field(default=None, max_length=64)
    schedule_job: int | None = Field(default=None, sa_type=sa.BigInteger)
    # The procrastinate queue whose workers send it; None for a sender process.
    queue: str | None = Field(default=None, max_length=64)
    # The segment its recipients were chosen by, as it read at the snapshot.
    segment_name: str | None = Field(default=None, max_length=64)
    segment_expression: str | None = Field(default=None, sa_type=sa.Text)


class CampaignEdition(SQLModel, table=True):
    """Another language edition of a campaign's issue, snapshotted like the primary one."""

    __tablename__ = "campaign_edition"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        sa_column_args=[sa.ForeignKey("campaign.id", ondelete="CASCADE")], index=True
    )
    language: str = Field(max_length=35)
    source: str | None = Field(default=None, max_length=1000)
    subject: str
    html: str
    text: str


class DeliveryKind(StrEnum):
    """What a delivery was: a campaign's message, or a mail to one person about their sign-up.

    Confirmation and welcome mails have no campaign; they are in the same log
    so every message that left is accounted for in one place.
    """

    CAMPAIGN = "campaign"
    CONFIRMATION = "confirmation"
    WELCOME = "welcome"
    INVITATION = "invitation"  # a confirmation mail to someone an administrator imported
    REMINDER = "reminder"  # the one reminder of a sign-up or invitation not yet confirmed


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        sa.Index("ix_delivery_campaign_status", "campaign_id", "status", "id"),
        sa.Index("ix_delivery_campaign_id", "campaign_id", "id"),
        sa.Index("ix_delivery_address", sa.text("lower(address)")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=DeliveryKind.CAMPAIGN.value, max_length=16)
    # No foreign keys: PostgreSQL checked each with a query (and a row lock on
    # the subscriber) per inserted delivery, 60 % of a million-row snapshot.
    # Triggers on campaign and subscriber do what ON DELETE did (migration 0019).
    campaign_id: int | None = None
    subscriber_id: int | None = Field(default=None, index=True)
    address: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=400)
    status: str = Field(default=DeliveryStatus.QUEUED.value, max_length=16)
    attempts: int = 0
    smtp_code: int | None = None
    smtp_reply: str | None = None
    queue_id: str | None = Field(default=None, max_length=200)
    message_id: str | None = Field(default=None, max_length=255)
    history: str | None = None  # earlier attempts, one "time code reply" line each
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When this attempt's body began: committed before its first byte is written (see
    # campaigns/dispatch.py). A claim without it never reached the server, so recovery after
    # a crash queues it again; only one with it may have arrived and becomes ``unknown``.
    data_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Which sender's lease claimed it: recovery after a dead sender marks only
    # that sender's messages in flight unknown. No foreign key, so a claim
    # costs no extra look-up.
    lease_id: int | None = None
    # The language edition this recipient gets (the campaign's language when
    # the issue has one edition); chosen at the snapshot, never changed.
    edition: str | None = Field(default=None, max_length=35)
    # A campaign sent at each recipient's local time: the zone the message was
    # timed in and the wave it leaves with (see CampaignWave).
    zone: str | None = Field(default=None, max_length=64)
    wave: int | None = None


class CampaignWave(SQLModel, table=True):
    """The recipients of a local-time schedule whose zones share one UTC offset that day.

    Its deliveries wait ``queued`` with ``next_attempt_at`` = ``at``, which is
    all the sender needs to hold them back; the row says what the editor asked
    for (``local``), which zones it covers, and whether a worker has started
    it (``started_at``) or ``campaigns unschedule`` cancelled it. Numbered
    1, 2, … earliest first.
    """

    __tablename__ = "campaign_wave"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column_args=[sa.ForeignKey("campaign.id", ondelete="CASCADE")])
    number: int
    at: datetime = Field(sa_type=UTCDateTime)
    local: str = Field(max_length=32)  # "2026-12-08 09:00", as asked
    zones: str = Field(sa_type=sa.Text)  # space-separated IANA names
    recipients: int
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Notice(SQLModel, table=True):
    """What a confirmation or welcome delivery is about, so it can be composed when it is sent.

    The delivery row is written ``queued`` in the transaction that decides the
    mail; the sender composes it from here: a confirmation from its sign-up,
    a welcome mail from the delivery's subscriber and this list. A sign-up or
    list gone by then (purged, deleted) means the mail is not sent. Its own
    table rather than columns of ``delivery``: campaign deliveries, millions
    of them, carry nothing more.
    """

    __tablename__ = "notice"

    delivery_id: int = Field(
        primary_key=True, sa_column_args=[sa.ForeignKey("delivery.id", ondelete="CASCADE")]
    )
    signup_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[sa.ForeignKey("signup.id", ondelete="SET NULL")],
    )
    list_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[sa.ForeignKey("mailing_list.id", ondelete="SET NULL")],
    )


class SenderLease(SQLModel, table=True):
    """A sending process's hold on a campaign, kept alive by a heartbeat.

    A sender renews ``expires_at`` every few seconds while it runs; one that
    stops renewing (killed, host gone, partitioned) is recognisably stale once
    ``expires_at`` has passed, on any host. On the sender's own host a dead
    process id is stale at once. ``released_at`` is set when the sender lets
    go, or when another sender takes over a stale lease.
    """

    __tablename__ = "sender_lease"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        index=True, sa_column_args=[sa.ForeignKey("campaign.id", ondelete="CASCADE")]
    )
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    renewed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DestinationState(SQLModel, table=True):
    """How a mailbox provider treats one campaign: its throttling replies and our backoff.

    Shared in the database, not kept per process, so every sender and worker of the campaign
    backs off the same destination together. ``level`` counts consecutive throttles (the
    backoff doubles with each) and drops to 0 when a message to it is accepted; ``deferrals``
    counts every throttling reply, for ``campaigns show``.
    """

    __tablename__ = "destination_state"

    campaign_id: int = Field(
        primary_key=True,
        sa_column_args=[sa.ForeignKey("campaign.id", ondelete="CASCADE")],
    )
    destination: str = Field(primary_key=True, max_length=255)
    level: int = 0
    deferrals: int = 0
    backoff_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_reply: str | None = None
    last_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
