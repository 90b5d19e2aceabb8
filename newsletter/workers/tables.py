"""The tables of sending by workers: a campaign's batches, and the shared send rate.

A ``CampaignBatch`` is a range of a campaign's delivery ids that one job
sends; it records which run holds it (a ``SenderLease``, as a sender
process's hold on a whole campaign does) and when it was done. The delivery
log stays the one record of each delivery's state: a batch holds no
delivery state of its own. ``SendRate`` is one row per relay whose token
buckets every worker on every host takes its sending slots from. Change
these only together with a migration.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.db.columns import UTCDateTime


class CampaignBatch(SQLModel, table=True):
    __tablename__ = "campaign_batch"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column_args=[sa.ForeignKey("campaign.id", ondelete="CASCADE")])
    number: int  # 1, 2, … in delivery id order
    first_id: int  # delivery ids first_id … last_id of the campaign
    last_id: int
    size: int
    # The lease of the run that holds it now, or held it last. No foreign key,
    # as for Delivery.lease_id.
    lease_id: int | None = None
    runs: int = 0
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SendRate(SQLModel, table=True):
    """The shared rate of one relay (``newsletter.workers.pacing``): per second, the next
    free slot and the last reserved starts; per minute and hour, GCRA token buckets (the
    theoretical arrival time of the next send)."""

    __tablename__ = "send_rate"

    name: str = Field(primary_key=True, max_length=255)
    second_tat: datetime | None = Field(default=None, sa_type=UTCDateTime)
    second_starts: str | None = Field(default=None, sa_type=sa.Text)
    minute_tat: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hour_tat: datetime | None = Field(default=None, sa_type=UTCDateTime)
