"""The bounce table: inbound bounces, complaints, auto-replies and mailto unsubscribes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Hand-written and frozen, like 0001: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bounce",
        sa.Column("id", sa.Integer, primary_key=True),
        _when("received_at", nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320)),
        sa.Column("key_hash", sa.String(64)),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscriber.id", ondelete="SET NULL")),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("delivery.id", ondelete="SET NULL")),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.id", ondelete="SET NULL")),
        sa.Column("attribution", sa.String(32)),
        sa.Column("status", sa.String(16)),
        sa.Column("diagnostic", sa.String),
        sa.Column("reasons", sa.String),
        sa.Column("scored", sa.Boolean, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("message_id", sa.String(998)),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("raw", sa.LargeBinary),
        _when("undone_at"),
    )
    op.create_index("ix_bounce_received_at", "bounce", ["received_at"])
    op.create_index("ix_bounce_key_hash", "bounce", ["key_hash"])
    op.create_index("ix_bounce_delivery_id", "bounce", ["delivery_id"])
    op.create_index("ix_bounce_campaign_id", "bounce", ["campaign_id"])
    op.create_index("ix_bounce_message_id", "bounce", ["message_id"])


def downgrade() -> None:
    op.drop_table("bounce")
