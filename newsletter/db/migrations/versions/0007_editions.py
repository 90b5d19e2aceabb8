"""Language editions: a campaign sends each recipient the issue in their language.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The campaign row keeps the primary edition; ``campaign_edition`` holds the
others (subject, HTML, text, one row per language), and ``delivery.edition``
records which one each recipient was given. Deliveries of earlier campaigns
get their campaign's language, which is the edition they were sent.
Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_edition",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("source", sa.String(1000)),
        sa.Column("subject", sa.String, nullable=False),
        sa.Column("html", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.UniqueConstraint("campaign_id", "language"),
    )
    op.create_index("ix_campaign_edition_campaign_id", "campaign_edition", ["campaign_id"])
    op.add_column("delivery", sa.Column("edition", sa.String(35)))
    campaign = sa.table("campaign", sa.column("id"), sa.column("language"))
    delivery = sa.table("delivery", sa.column("campaign_id"), sa.column("edition"))
    op.execute(
        delivery.update().values(
            edition=sa.select(campaign.c.language)
            .where(campaign.c.id == delivery.c.campaign_id)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    # Not batch mode: rebuilding the table on SQLite would lose 0006's
    # expression index on lower(address). SQLite drops a column since 3.35.
    op.drop_column("delivery", "edition")
    op.drop_index("ix_campaign_edition_campaign_id", "campaign_edition")
    op.drop_table("campaign_edition")
