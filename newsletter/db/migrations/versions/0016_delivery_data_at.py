"""When each message's body began: what a crash may have left on the wire.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A claimed delivery (``sending``) whose ``data_at`` is empty never had a byte of its body
written, so the server cannot have accepted it: after a crash it goes back to ``queued`` and
the resume sends it. Only one whose body had begun becomes ``unknown``. Hand-written and
frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("delivery", sa.Column("data_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Not batch mode: rebuilding the table on SQLite would lose 0006's expression index.
    op.drop_column("delivery", "data_at")
