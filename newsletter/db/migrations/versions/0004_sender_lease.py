"""Sender leases with a heartbeat replace the process-id check.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

A campaign's sender was recorded as a process id and host name, which says
nothing once the host is gone. A lease row carries the same plus a heartbeat
and an expiry that any host can judge; deliveries record the lease that
claimed them. Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sender_lease",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        _when("started_at", nullable=False),
        _when("renewed_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("released_at"),
    )
    op.create_index("ix_sender_lease_campaign_id", "sender_lease", ["campaign_id"])
    # A campaign left "sending" by the old code keeps no holder: the next
    # resume treats it as interrupted, which is what it was.
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("runner_pid")
        batch.drop_column("runner_host")
        batch.add_column(sa.Column("lease_id", sa.Integer))
    op.add_column("delivery", sa.Column("lease_id", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("lease_id")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("lease_id")
        batch.add_column(sa.Column("runner_pid", sa.Integer))
        batch.add_column(sa.Column("runner_host", sa.String(255)))
    op.drop_index("ix_sender_lease_campaign_id", "sender_lease")
    op.drop_table("sender_lease")
