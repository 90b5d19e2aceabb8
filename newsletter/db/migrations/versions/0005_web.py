"""The subscriber web: pending sign-ups, and deliveries that belong to no campaign.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Hand-written and frozen, like the others. ``delivery.kind`` tells campaign
messages from confirmation and welcome mails, which have no campaign, so
``campaign_id`` becomes nullable (SQLite needs the table rebuilt for that:
``batch_alter_table`` does it and keeps the indexes).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="campaign")
        )
        batch.alter_column("campaign_id", existing_type=sa.Integer, nullable=True)
    op.create_table(
        "signup",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "list_id",
            sa.Integer,
            sa.ForeignKey("mailing_list.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(400)),
        sa.Column("language", sa.String(35)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_signup_key_hash", "signup", ["key_hash"])
    op.create_index("ix_signup_created_at", "signup", ["created_at"])


def downgrade() -> None:
    op.drop_table("signup")
    op.execute("DELETE FROM delivery WHERE campaign_id IS NULL")
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("campaign_id", existing_type=sa.Integer, nullable=False)
        batch.drop_column("kind")
