"""The bounce table: every inbound message we recognised as ours, and what we did about it.

One row per message (or webhook event): its classification, the address it
was attributed to and how, the decision the policy took, and the raw
message, zlib-compressed, so a person reviewing a suppression sees exactly
what the receiving server said. ``content_hash`` makes processing a mailbox
twice a no-op. Change this table only together with a new migration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The foreign keys below name their tables: SQLAlchemy resolves them only when
# those models are loaded, and ``bounces undo`` alone would not load them.
from newsletter.campaigns import tables as _campaigns  # noqa: F401
from newsletter.db.columns import UTCDateTime, utcnow
from newsletter.subscribers import tables as _subscribers  # noqa: F401


class Kind(StrEnum):
    """What an inbound message is."""

    HARD = "hard"  # the mailbox does not exist or is disabled: suppress
    SOFT = "soft"  # full, over quota, temporarily failing, or blocked: score
    DELAYED = "delayed"  # a delay notice (DSN Action: delayed): not a bounce
    AUTO_REPLY = "auto-reply"  # out of office, vacation: never counts
    COMPLAINT = "complaint"  # an ARF feedback report: unsubscribe and suppress
    UNSUBSCRIBE = "unsubscribe"  # a mail to the List-Unsubscribe mailto address
    CHALLENGE = "challenge"  # challenge-response "verify you are human": never answered
    # Ours only by the failed recipient or List-Id, which anyone can write: kept for
    # review, acts on nothing (unless [inbound] trust_recipient_only)
    UNVERIFIED = "unverified"
    UNRELATED = "unrelated"  # not ours, or not understood: left exactly where it was


class Decision(StrEnum):
    """What the policy did with a recorded message."""

    SUPPRESSED = "suppressed"
    SCORED = "scored"
    UNSUBSCRIBED = "unsubscribed"
    RECORDED = "recorded"  # kept for review, no effect (auto-replies, delays, policy blocks)
    UNDONE = "undone"


class Bounce(SQLModel, table=True):
    __tablename__ = "bounce"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    source: str = Field(max_length=1000)  # maildir:PATH, mbox:PATH, imap:URL, webhook:ses …
    kind: str = Field(max_length=16)
    address: str | None = Field(default=None, max_length=320)
    key_hash: str | None = Field(default=None, max_length=64, index=True)
    subscriber_id: int | None = Field(
        default=None,
        index=True,  # SQLite checks this foreign key on every update of a subscriber row
        sa_column_args=[sa.ForeignKey("subscriber.id", ondelete="SET NULL")],
    )
    delivery_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[sa.ForeignKey("delivery.id", ondelete="SET NULL")],
    )
    campaign_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[sa.ForeignKey("campaign.id", ondelete="SET NULL")],
    )
    attribution: str | None = Field(default=None, max_length=32)  # verp | message-id | …
    # The status as the report gave it, e.g. "5.1.10 (host/domain does not accept mail)"
    status: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=32)  # inbound.reasons.Reason
    diagnostic: str | None = None
    reasons: str | None = None  # why it was classified so, one reason a line
    scored: bool = False  # whether it adds to the soft-bounce score
    decision: str = Field(max_length=16)
    score: float | None = None  # the soft-bounce score after this message
    message_id: str | None = Field(default=None, max_length=998, index=True)
    content_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    raw: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
