"""Per-destination throttling: each mailbox provider's backoff, shared by every sender.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07

A ``421``/``4.7.x`` throttling reply from one provider (Microsoft's ``4.7.650``, Yahoo's
``TSS04``, Gmail's ``4.7.28``) backs off that provider only; the state lives here so that all
senders and workers of a campaign honour it, and ``campaigns show`` lists the deferrals per
destination. Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destination_state",
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("destination", sa.String(255), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("deferrals", sa.Integer, nullable=False),
        sa.Column("backoff_until", sa.DateTime(timezone=True)),
        sa.Column("last_reply", sa.String),
        sa.Column("last_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("destination_state")
