"""Confirmation and welcome mails that survive a restart: sign-up requests and queued mails.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

``signup_request`` holds a sign-up form post until the server has decided
it (before, an in-memory queue that a stop lost). A confirmation or welcome
mail is a ``queued`` delivery written in the transaction that decides it,
and ``notice`` says what it is about (the sign-up of a confirmation, the
list of a welcome mail), so the sender composes it when it sends it, after
a restart too. A table of its own: the delivery table is not rebuilt and
its campaign rows carry nothing more. Hand-written and frozen: it does not
import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signup_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("list_slug", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(400)),
        sa.Column("language", sa.String(35)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_signup_request_key_hash", "signup_request", ["key_hash"])
    op.create_table(
        "notice",
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey("delivery.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("signup_id", sa.Integer, sa.ForeignKey("signup.id", ondelete="SET NULL")),
        sa.Column("list_id", sa.Integer, sa.ForeignKey("mailing_list.id", ondelete="SET NULL")),
    )
    # Deleting a sign-up (the daily purge) or a list looks up the notices naming it.
    op.create_index("ix_notice_signup_id", "notice", ["signup_id"])
    op.create_index("ix_notice_list_id", "notice", ["list_id"])


def downgrade() -> None:
    op.drop_table("notice")
    op.drop_index("ix_signup_request_key_hash", "signup_request")
    op.drop_table("signup_request")
