"""Alembic environment, driven only from :meth:`newsletter.db.Database.upgrade`.

There is no alembic.ini: the caller hands over an open connection, so the
SQLite pragmas of :mod:`newsletter.db` apply to migrations too.
"""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `newsletter db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
