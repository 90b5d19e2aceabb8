"""The shared per-second rate remembers its last starts, so a late worker catches up.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

``send_rate.second_starts``: the last ``n`` starts reserved under a per-second
limit of ``n`` (rounded down), in microseconds, the first since 1970 and each
next one as its distance from the one before. A worker that asks late takes the
slot it missed, and these starts keep that catching up from putting more than
``n`` starts into any ``n / rate`` seconds (``newsletter.workers.pacing``).
NULL: none remembered yet (also a row from before this revision: only its first
second after the upgrade goes unchecked). Hand-written and frozen: it does not import the
models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("send_rate") as batch:
        batch.add_column(sa.Column("second_starts", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("send_rate") as batch:
        batch.drop_column("second_starts")
