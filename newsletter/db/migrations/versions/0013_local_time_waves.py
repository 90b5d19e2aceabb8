"""Sending at each subscriber's local time: time zones, and a campaign's waves.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07

A subscriber may carry the IANA time zone they chose (``subscriber.timezone``,
and on its way there from the sign-up form ``signup_request``/``signup``);
a list may name a default zone and say whether a subscriber's language may
stand in for a zone they never gave (``mailing_list.timezone``,
``timezone_from_language``). A campaign scheduled at a local time is cut into
waves, one per UTC offset (``campaign_wave``), and each delivery records the
zone it was timed in and its wave; a delivery of a later wave waits as
``queued`` with ``next_attempt_at`` at its wave's time, so the sender's
existing "due" condition holds it back. Hand-written and frozen: it does not
import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriber", sa.Column("timezone", sa.String(64)))
    # chosen on the sign-up form, kept until the confirmation creates the subscriber
    op.add_column("signup_request", sa.Column("timezone", sa.String(64)))
    op.add_column("signup", sa.Column("timezone", sa.String(64)))
    op.add_column("mailing_list", sa.Column("timezone", sa.String(64)))
    op.add_column(
        "mailing_list",
        sa.Column("timezone_from_language", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("delivery", sa.Column("zone", sa.String(64)))
    op.add_column("delivery", sa.Column("wave", sa.Integer))
    op.create_table(
        "campaign_wave",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local", sa.String(32), nullable=False),
        sa.Column("zones", sa.Text, nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("campaign_id", "number"),
    )


def downgrade() -> None:
    op.drop_table("campaign_wave")
    # Not batch mode: rebuilding the delivery table on SQLite would lose 0006's
    # expression index on lower(address). SQLite drops a column since 3.35.
    for table, column in (
        ("delivery", "wave"),
        ("delivery", "zone"),
        ("mailing_list", "timezone_from_language"),
        ("mailing_list", "timezone"),
        ("subscriber", "timezone"),
        ("signup", "timezone"),
        ("signup_request", "timezone"),
    ):
        op.drop_column(table, column)
