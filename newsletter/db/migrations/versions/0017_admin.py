"""Invitations, reminders and expiry per list; saved segments; a campaign's segment.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

A list says after how many days an unconfirmed person is reminded once
(``remind_after_days``, 0: never) and after how many the unconfirmed are
deleted (``expire_after_days``). A sign-up remembers when its reminder went
(``reminded_at``: never twice) and, for an invitation, why the
administrator added the person (``reason``, shown in the mail). A segment is
a named expression over subscribers; a campaign created for one keeps its
name and expression as they were at the snapshot. Hand-written and frozen:
it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as t:
        t.add_column(sa.Column("remind_after_days", sa.Integer, nullable=False, server_default="3"))
        t.add_column(
            sa.Column("expire_after_days", sa.Integer, nullable=False, server_default="30")
        )
    op.add_column("signup", sa.Column("reminded_at", sa.DateTime(timezone=True)))
    op.add_column("signup", sa.Column("reason", sa.String(400)))
    op.add_column("campaign", sa.Column("segment_name", sa.String(64)))
    op.add_column("campaign", sa.Column("segment_expression", sa.Text))
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("expression", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("segment")
    with op.batch_alter_table("campaign") as t:
        t.drop_column("segment_expression")
        t.drop_column("segment_name")
    with op.batch_alter_table("signup") as t:
        t.drop_column("reason")
        t.drop_column("reminded_at")
    with op.batch_alter_table("mailing_list") as t:
        t.drop_column("expire_after_days")
        t.drop_column("remind_after_days")
