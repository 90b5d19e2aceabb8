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
        key = (conn.dialect.name, name)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = Compiled(self._statements[name], conn.dialect)
        return compiled(conn, values)
