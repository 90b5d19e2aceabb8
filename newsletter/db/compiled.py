"""Core statements compiled once per dialect and run as driver SQL, for the few hot paths.

SQLAlchemy's per-execution bookkeeping (cache keys, compiled-parameter
processing, result set-up) costs several times what SQLite itself spends on a
small statement. A hot path that runs the same handful of statements per
request (the RFC 8058 one-click unsubscribe) compiles them once for the
engine's dialect and hands the parameters straight to the driver; the
statements stay SQLAlchemy expressions, so they are the same on every
backend. ``campaigns.statements.Prepared`` does the same for the send loop.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from newsletter.db.columns import UTCDateTime


class Compiled:
    """One statement, compiled for one dialect; datetimes are stored as UTCDateTime does."""

    def __init__(self, stmt: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        self.order = compiled.positiontup if compiled.positional else None
        self.to_db = UTCDateTime().bind_processor(dialect)

    def params(self, values: dict[str, Any]) -> Any:
        merged = self.defaults | values
        if self.to_db is not None:
            merged = {k: self.to_db(v) if hasattr(v, "tzinfo") else v for k, v in merged.items()}
        if self.order is None:
            return merged
        return tuple(merged[n] for n in self.order)

    def __call__(self, conn: sa.Connection, values: dict[str, Any]) -> sa.CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self.params(values))


class Statements:
    """Named statements, each compiled on first use per dialect."""

    def __init__(self, **statements: sa.Executable) -> None:
        self._statements = statements
        self._compiled: dict[tuple[str, str], Compiled] = {}

    def run(self, conn: sa.Connection, name: str, **values: Any) -> sa.CursorResult[Any]:
        return self.compiled(conn.dialect, name)(conn, values)

    def compiled(self, dialect: sa.Dialect, name: str) -> Compiled:
        key = (dialect.name, name)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = Compiled(self._statements[name], dialect)
        return compiled

    def cursor(self, conn: sa.Connection) -> DriverCursor:
        """These statements on the driver's own cursor of ``conn``, inside its transaction."""
        return DriverCursor(self, conn)


class DriverCursor:
    """Runs :class:`Statements` on a DBAPI cursor: rows come back as plain tuples.

    Even ``exec_driver_sql`` sets up an execution context and a result per
    statement, which costs more than SQLite's own work on a one-row write; a
    loop that runs a handful of statements per item (the one-click group
    commit) skips that here. The statements join ``conn``'s transaction:
    SQLAlchemy began it and commits or rolls it back as usual.
    """

    def __init__(self, statements: Statements, conn: sa.Connection) -> None:
        self.statements = statements
        self.dialect = conn.dialect
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None, "a connection inside its transaction"
        self.cursor = dbapi.cursor()

    def run(self, name: str, **values: Any) -> Any:
        """Execute ``name``; returns the DBAPI cursor (``fetchone()``, ``rowcount``)."""
        compiled = self.statements.compiled(self.dialect, name)
        self.cursor.execute(compiled.sql, compiled.params(values))
        return self.cursor

    def close(self) -> None:
        self.cursor.close()
