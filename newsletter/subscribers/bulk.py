"""Driver-level bulk statements for imports, on SQLite and PostgreSQL.

SQLAlchemy's per-row parameter processing costs more than SQLite's insert
itself (about 100 µs a row for our tables), so the import converts values
once (times, JSON) and hands plain tuples to the driver: ``executemany`` on
SQLite, ``COPY … FROM STDIN`` on PostgreSQL, where a whole import runs 1.6–2×
as fast as with pipelined INSERTs (bench/README.md). Only the placeholder style
differs between drivers otherwise; the SQL is standard. Values written here
must read back exactly like ORM-written ones: ``tests/test_subscribers_import.py``
reads imported rows through the models, on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class Bulk:
    use_copy = True
    """``bench/import.py --compare-copy`` turns COPY off to measure what it saves."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        style = conn.dialect.paramstyle
        if style not in _PLACEHOLDER:
            raise NotImplementedError(f"bulk import does not support paramstyle {style}")
        self.ph = _PLACEHOLDER[style]
        self.sqlite = conn.dialect.name == "sqlite"
        self.postgresql = conn.dialect.name == "postgresql"
        self.copy = self.use_copy and self.postgresql and conn.dialect.driver == "psycopg"

    def time(self, value: datetime | None) -> Any:
        """What the UTCDateTime column would store: naive UTC text on SQLite."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        if self.sqlite:
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)

    @staticmethod
    def from_json(value: str | dict[str, Any]) -> dict[str, Any]:
        """A JSON column as read by the driver: text on SQLite, already a dict on PostgreSQL."""
        return json.loads(value) if isinstance(value, str) else dict(value)

    def placeholders(self, n: int) -> str:
        return ", ".join([self.ph] * n)

    def new_ids(self, table: str, n: int) -> list[int]:
        """``n`` primary keys for rows about to be inserted into ``table``.

        Choosing them up front saves reading them back by key. On SQLite the
        importing transaction is the only writer, so the next ids are free;
        on PostgreSQL the table's sequence hands them out.
        """
        if n == 0:
            return []
        if self.sqlite:
            top = self.conn.exec_driver_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
            start = top.scalar_one() + 1
            return list(range(start, start + n))
        sql = (
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
            f"FROM generate_series(1, {int(n)})"
        )
        return list(self.conn.exec_driver_sql(sql).scalars())

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in columns)
        if self.copy:
            cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({self.placeholders(len(columns))})'
        self.conn.exec_driver_sql(sql, rows)

    def execute_many(self, sql: str, rows: list[tuple]) -> None:
        """``sql`` uses ``?`` placeholders; they are adapted to the driver."""
        if rows:
            self.conn.exec_driver_sql(sql.replace("?", self.ph), rows)

    def select_in(self, sql: str, values: Iterable[Any], *extra: Any) -> list[Any]:
        """Run ``sql`` with its ``IN ({})`` filled by ``values``; ``?`` marks other params.

        On PostgreSQL the values go as one array (``= ANY(%s)``): planning an
        ``IN`` list of 5,000 parameters costs more than running it.
        """
        values = list(values)
        if not values:
            return []
        if self.postgresql:
            text = sql.replace("?", self.ph).replace("IN ({})", "= ANY(%s)")
            return list(self.conn.exec_driver_sql(text, (values, *extra)).all())
        text = sql.replace("?", self.ph).replace("{}", self.placeholders(len(values)))
        return list(self.conn.exec_driver_sql(text, (*values, *extra)).all())
