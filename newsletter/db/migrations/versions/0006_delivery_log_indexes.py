"""Indexes for the delivery log's look-ups: by address, and one campaign in order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A bounce, a complaint and ``subscribers data`` find deliveries by
``lower(address)``, which no index served: at a million log rows every inbound
bounce read the whole table. ``newsletter log ID`` reads one campaign in id
order, which ``(campaign_id, status, id)`` cannot give, so SQLite scanned the
table in rowid order instead. ``tests/test_delivery_log_plans.py`` checks the
plans on both backends. Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_address", "delivery", [sa.text("lower(address)")])
    op.create_index("ix_delivery_campaign_id", "delivery", ["campaign_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_campaign_id", "delivery")
    op.drop_index("ix_delivery_address", "delivery")
