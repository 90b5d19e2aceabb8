"""Alembic environment, driven only from :meth:`newsletter.db.Database.upgrade`.

There is no alembic.ini: the caller hands over an open connection, so the
SQLite pragmas of :mod:`newsletter.db` apply to migrations too.
"""

import warnings

from alembic import context
from sqlalchemy.exc import SAWarning

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `newsletter db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
)
# A batch migration on SQLite reflects the tables its foreign keys name; reflecting
# ``delivery`` warns that its expression index lower(address) cannot be reflected. That table
# is only read, never rebuilt (its index stays), so the warning says nothing to the person
# upgrading: `newsletter demo` and `db upgrade` printed it.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
    with context.begin_transaction():
        context.run_migrations()
