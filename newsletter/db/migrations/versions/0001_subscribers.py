"""Subscribers, mailing lists, subscriptions, suppressions and the consent log.

Revision ID: 0001
Revises:
Create Date: 2024-06-01

Hand-written and frozen: it does not import ``newsletter.subscribers.tables``, so later
model changes cannot silently change what this step creates.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("key", sa.String(320), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(400)),
        sa.Column("language", sa.String(35)),
        sa.Column("attributes", sa.JSON, nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_table(
        "mailing_list",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String),
        sa.Column("language", sa.String(35)),
        sa.Column("double_opt_in", sa.Boolean, nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "subscription",
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "list_id",
            sa.Integer,
            sa.ForeignKey("mailing_list.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(1000)),
        _when("created_at"),
        _when("confirmed_at", nullable=True),
        _when("unsubscribed_at", nullable=True),
        _when("updated_at"),
    )
    op.create_index("ix_subscription_list_status", "subscription", ["list_id", "status"])
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("address", sa.String(320)),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", sa.String),
        sa.Column("source", sa.String(1000)),
        _when("created_at"),
    )
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer, primary_key=True),
        _when("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscriber.id", ondelete="SET NULL"),
        ),
        sa.Column("list_slug", sa.String(64)),
        sa.Column("subject", sa.String(320)),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("detail", sa.String),
    )
    op.create_index("ix_consent_event_subscriber_id", "consent_event", ["subscriber_id"])
    op.create_table(
        "newsletter_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("newsletter_meta")
    op.drop_index("ix_consent_event_subscriber_id", "consent_event")
    op.drop_table("consent_event")
    op.drop_table("suppression")
    op.drop_index("ix_subscription_list_status", "subscription")
    op.drop_table("subscription")
    op.drop_table("mailing_list")
    op.drop_table("subscriber")
