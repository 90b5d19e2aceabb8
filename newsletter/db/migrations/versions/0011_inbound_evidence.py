"""Bounce rows keep why a message failed (a reason of the taxonomy) and the whole status.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

``reason`` is one of :class:`newsletter.inbound.reasons.Reason` (user-unknown,
mailbox-full, spam-detected …), which says whose fault a failure is. The
status column held 16 characters, which cut an RFC 3464 status with its
comment (``5.1.10 (host/domain does not accept mail)``); it is widened.
Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bounce") as batch:
        batch.add_column(sa.Column("reason", sa.String(32)))
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(255), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("bounce") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(255), type_=sa.String(16), existing_nullable=True
        )
        batch.drop_column("reason")
