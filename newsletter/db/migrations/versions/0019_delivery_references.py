"""The delivery log keeps its references by triggers on the referenced rows, not foreign keys.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

A campaign's snapshot writes one delivery per recipient in one statement
(``campaigns/snapshot.py``). PostgreSQL checks a foreign key with a query per
inserted row, and the check on ``subscriber_id`` also locks each subscriber
row (``FOR KEY SHARE``), which writes to every one of their pages: at a
million recipients the two checks were 22 of the snapshot's 37 CPU seconds
(issue #22). Nothing gains from them: the snapshot reads the subscribers it
refers to in the same statement, and every other writer copies ids it has
just read.

What the foreign keys did on delete, triggers on the referenced tables do now,
only when a campaign or a subscriber is deleted (rare) and never per inserted
delivery:

* deleting a campaign deletes its deliveries (was ``ON DELETE CASCADE``);
* deleting a subscriber empties ``delivery.subscriber_id`` (was ``ON DELETE
  SET NULL``); SQLite may give a new subscriber the id of a deleted one, so a
  dangling id would point at the wrong person.

On PostgreSQL the subscriber trigger also takes the snapshot's advisory lock
(``SNAPSHOT_LOCK`` in ``campaigns/snapshot.py``) exclusively, and a snapshot
takes it shared before its ``INSERT … SELECT``: a subscriber deleted while a
snapshot runs waits for it and then clears the new rows, and a snapshot that
starts after a delete waits for its commit and no longer sees the person.
SQLite has one writer at a time, so the two never overlap there.

Tests: ``tests/test_delivery_references.py``. A later migration that rebuilds
``subscriber`` or ``campaign`` on SQLite (``batch_alter_table``) drops their
triggers with the old table and must create them again; the test fails if
it does not. Hand-written and frozen: it does not import the models.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The same two numbers as campaigns/snapshot.py's SNAPSHOT_LOCK (a test checks).
_LOCK = "-1853189228, 19"

_PG = [
    f"""CREATE FUNCTION delivery_forget_subscriber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({_LOCK});
    UPDATE delivery SET subscriber_id = NULL WHERE subscriber_id = OLD.id;
    RETURN OLD;
END $$""",
    "CREATE TRIGGER subscriber_deleted AFTER DELETE ON subscriber "
    "FOR EACH ROW EXECUTE FUNCTION delivery_forget_subscriber()",
    """CREATE FUNCTION delivery_drop_campaign() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery WHERE campaign_id = OLD.id;
    RETURN OLD;
END $$""",
    "CREATE TRIGGER campaign_deleted AFTER DELETE ON campaign "
    "FOR EACH ROW EXECUTE FUNCTION delivery_drop_campaign()",
]
_PG_DOWN = [
    "DROP TRIGGER subscriber_deleted ON subscriber",
    "DROP FUNCTION delivery_forget_subscriber()",
    "DROP TRIGGER campaign_deleted ON campaign",
    "DROP FUNCTION delivery_drop_campaign()",
]
_SQLITE = [
    "CREATE TRIGGER subscriber_deleted AFTER DELETE ON subscriber BEGIN "
    "UPDATE delivery SET subscriber_id = NULL WHERE subscriber_id = OLD.id; END",
    "CREATE TRIGGER campaign_deleted AFTER DELETE ON campaign BEGIN "
    "DELETE FROM delivery WHERE campaign_id = OLD.id; END",
]
_SQLITE_DOWN = ["DROP TRIGGER subscriber_deleted", "DROP TRIGGER campaign_deleted"]
# SQLite's foreign keys have no names; batch mode names them by this pattern to drop them.
_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_FKS = [("campaign_id", "campaign", "CASCADE"), ("subscriber_id", "subscriber", "SET NULL")]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for fk in sa.inspect(bind).get_foreign_keys("delivery"):
            assert fk["name"], "PostgreSQL names every constraint"
            op.drop_constraint(fk["name"], "delivery", type_="foreignkey")
        statements = _PG
    else:
        # batch mode rebuilds the table and would lose 0006's expression index
        op.drop_index("ix_delivery_address", "delivery")
        with op.batch_alter_table("delivery", recreate="always", naming_convention=_NAMES) as t:
            for column, parent, _ in _FKS:
                t.drop_constraint(f"fk_delivery_{column}_{parent}", type_="foreignkey")
        op.create_index("ix_delivery_address", "delivery", [sa.text("lower(address)")])
        statements = _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    for statement in _PG_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    # rows whose campaign or subscriber is gone would fail the foreign keys again
    op.execute(
        "DELETE FROM delivery WHERE campaign_id IS NOT NULL "
        "AND campaign_id NOT IN (SELECT id FROM campaign)"
    )
    op.execute(
        "UPDATE delivery SET subscriber_id = NULL WHERE subscriber_id IS NOT NULL "
        "AND subscriber_id NOT IN (SELECT id FROM subscriber)"
    )
    if postgresql:
        for column, parent, action in _FKS:
            op.create_foreign_key(
                f"delivery_{column}_fkey", "delivery", parent, [column], ["id"], ondelete=action
            )
        return
    op.drop_index("ix_delivery_address", "delivery")
    with op.batch_alter_table("delivery", recreate="always") as t:
        for column, parent, action in _FKS:
            t.create_foreign_key(
                f"fk_delivery_{column}_{parent}", parent, [column], ["id"], ondelete=action
            )
    op.create_index("ix_delivery_address", "delivery", [sa.text("lower(address)")])
