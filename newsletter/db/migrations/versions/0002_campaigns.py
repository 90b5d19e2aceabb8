"""Campaigns and the delivery log.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-02

Hand-written and frozen, like 0001: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("issue_slug", sa.String(64), nullable=False),
        sa.Column("issue_source", sa.String(1000)),
        sa.Column("list_id", sa.Integer, sa.ForeignKey("mailing_list.id", ondelete="SET NULL")),
        sa.Column("list_slug", sa.String(64), nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String, nullable=False),
        sa.Column("html", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("language", sa.String(35)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(200)),
        sa.Column("runner_pid", sa.Integer),
        sa.Column("runner_host", sa.String(255)),
        _when("created_at", nullable=False),
        _when("started_at"),
        _when("finished_at"),
    )
    op.create_index("ix_campaign_issue_slug", "campaign", ["issue_slug"])
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscriber.id", ondelete="SET NULL")),
        sa.Column("address", sa.String(320)),
        sa.Column("name", sa.String(400)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("smtp_code", sa.Integer),
        sa.Column("smtp_reply", sa.String),
        sa.Column("queue_id", sa.String(200)),
        sa.Column("message_id", sa.String(255)),
        sa.Column("history", sa.String),
        _when("queued_at", nullable=False),
        _when("claimed_at"),
        _when("finished_at"),
        _when("next_attempt_at"),
    )
    op.create_index("ix_delivery_campaign_status", "delivery", ["campaign_id", "status", "id"])
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id"])


def downgrade() -> None:
    op.drop_table("delivery")
    op.drop_table("campaign")
