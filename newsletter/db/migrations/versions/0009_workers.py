"""Delivery workers and schedules: campaign batches, the shared send rate, procrastinate's tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

A campaign sent by workers is cut into batches of delivery ids
(``campaign_batch``), each sent by one procrastinate job at a time; the
delivery log stays the record of every delivery's state. ``send_rate`` holds
the token buckets that pace all workers together. A campaign can carry a
schedule (``scheduled_at`` in UTC, the zone the editor gave) and, once
workers send it, the queue they take it from.

On PostgreSQL this revision also creates procrastinate's own tables and
functions from the schema that ships with the installed procrastinate
(``pyproject.toml`` pins its minor version): a procrastinate upgrade that
changes its schema comes with a revision of ours that applies its migration
scripts. SQLite has no procrastinate; its worker polls for due campaigns.
Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("campaign", _when("scheduled_at"))
    op.add_column("campaign", sa.Column("schedule_zone", sa.String(64)))
    op.add_column("campaign", sa.Column("schedule_job", sa.BigInteger))
    op.add_column("campaign", sa.Column("queue", sa.String(64)))
    op.create_index("ix_campaign_scheduled_at", "campaign", ["scheduled_at"])
    op.create_table(
        "campaign_batch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaign.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("first_id", sa.Integer, nullable=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("lease_id", sa.Integer),
        sa.Column("runs", sa.Integer, nullable=False),
        _when("done_at"),
        sa.UniqueConstraint("campaign_id", "number"),
    )
    op.create_table(
        "send_rate",
        sa.Column("name", sa.String(255), primary_key=True),
        _when("second_tat"),
        _when("minute_tat"),
        _when("hour_tat"),
    )
    if op.get_bind().dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _drop_procrastinate(bind)
    op.drop_table("send_rate")
    op.drop_table("campaign_batch")
    op.drop_index("ix_campaign_scheduled_at", "campaign")
    for column in ("queue", "schedule_job", "schedule_zone", "scheduled_at"):
        op.drop_column("campaign", column)


def _drop_procrastinate(bind: sa.Connection) -> None:
    """Every object procrastinate's schema made: its tables, then functions, then types."""
    for table in ("events", "periodic_defers", "jobs", "workers"):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS procrastinate_{table} CASCADE")
    functions = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%%'"
    ).scalars()
    for signature in list(functions):
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature} CASCADE")
    types = bind.exec_driver_sql(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%%' "
        "AND t.typtype IN ('e', 'c')"
    ).scalars()
    for name in list(types):
        bind.exec_driver_sql(f"DROP TYPE IF EXISTS {name} CASCADE")
