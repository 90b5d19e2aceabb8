"""An index on bounce.subscriber_id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

SQLite checks every child table when a subscriber row is updated (the
one-click unsubscribe locks the row with such an update); without an index
on this foreign key each check scanned the whole bounce table, which made
unsubscribing slower the more bounces were recorded. GDPR lookups by
subscriber use it too. Hand-written and frozen: it does not import the models.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_bounce_subscriber_id", "bounce", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_bounce_subscriber_id", table_name="bounce")
