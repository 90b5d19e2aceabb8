"""One round trip per step on PostgreSQL: outcomes, marks and claims in one statement.

On SQLite a step's statements cost what SQLite spends on them; on PostgreSQL
each costs a round trip to the server, and psycopg's work around it (about
0.1 ms of CPU in the sender's process, more than the server's for these
rows): ``BEGIN``, the outcomes, the claim, the mark and ``COMMIT`` were five
or more round trips per message on one connection, and made the PostgreSQL
sender's CPU per message twice SQLite's. The common step (only final
replies to record, no fetch, no destination in backoff) is instead one
statement run outside an explicit transaction, so PostgreSQL commits it on
its own: atomic, as the step's transaction was, because one statement is.

The statement is data-modifying ``WITH`` parts (PostgreSQL only):

* ``final``: every outcome row at once, from a ``VALUES`` list;
* ``marked``: the bodies about to begin (``data_at``), ``RETURNING`` which took;
* ``claimed``: the ledger's own claim statement (the compare-and-swap of
  :func:`newsletter.campaigns.statements.claim`), ``RETURNING`` id, attempts.

All parts see the same snapshot and each row is changed by at most one of
them: the finished rows are ``sending`` with an outcome, the marked ones are
``sending`` without one (a connection asks for its next mark only after
handing back its outcome, and :meth:`OneTrip.fits` checks they are
disjoint), the claimed ones are ``queued`` or ``deferred``. Every other step
(deferrals, requeues, bounces, a fetch, destinations) runs the ledger's
general transaction.

The statement goes to the server as a prepared statement of its own, run through libpq
(``PQexecPrepared``, which releases the GIL while it waits): psycopg's cursor machinery
(its query conversion, parameter dumping, prepared-statement bookkeeping and wait loop)
cost about 0.1 ms of Python per step, as much as the rest of a step's bookkeeping; libpq
takes the parameters as text, which our few types (integers, strings, UTC times) convert
to directly. Anything else (a string with a NUL, an unexpected type) goes through psycopg
as before. Errors are psycopg's and SQLAlchemy's as on that path, a broken connection an
``OperationalError``, so the ledger reconnects as for any other statement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns.statements import D, Prepared
from newsletter.campaigns.tables import DeliveryStatus

_SENDING = DeliveryStatus.SENDING.value
_UNKNOWN = DeliveryStatus.UNKNOWN.value
_TABLE = D.name

# The rows and the lease checks are FINAL's (statements.py): only into this run's claim.
_FINAL = f"""final AS (
  UPDATE {_TABLE} AS f SET status = v.status, smtp_code = v.code, smtp_reply = v.reply,
    queue_id = v.queue, finished_at = %(t_now)s, next_attempt_at = NULL
  FROM (VALUES {{rows}}) AS v(id, status, code, reply, queue)
  WHERE f.id = v.id AND f.lease_id = %(t_lease)s AND f.status IN ('{_SENDING}', '{_UNKNOWN}')
)"""
_FINAL_ROW = (
    "(%(f_id{i})s::bigint, %(f_status{i})s::varchar, %(f_code{i})s::integer, "
    "%(f_reply{i})s::varchar, %(f_queue{i})s::varchar)"
)
_MARKED = f"""marked AS (
  UPDATE {_TABLE} SET data_at = %(t_now)s
  WHERE id IN ({{ids}}) AND status = '{_SENDING}' AND lease_id = %(t_lease)s
  RETURNING id
)"""


# ``%(name)s`` placeholders (and ``%%``) of the pyformat SQL, as libpq's ``$n``
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_NO_TEXT = object()  # a value only psycopg knows how to send


def _text(value: Any) -> Any:
    """``value`` as PostgreSQL's text input, for libpq; ``_NO_TEXT`` for psycopg to send."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        return _NO_TEXT if "\x00" in value else value.encode()  # libpq stops at a NUL
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat().encode()
    return _NO_TEXT


class _Libpq:
    """One statement's text for ``PQprepare``: ``$n`` placeholders, the names in their order."""

    def __init__(self, sql: str):
        order: list[str] = []

        def number(m: re.Match[str]) -> str:
            if m.group(1) is None:
                return "%"
            if m.group(1) not in order:
                order.append(m.group(1))
            return f"${order.index(m.group(1)) + 1}"

        text = _PLACEHOLDER.sub(number, sql)
        self.sql = text.encode()
        self.order = order
        # named by content: a pooled connection keeps it for the next run's identical step
        self.name = b"nl_trip_" + hashlib.sha1(self.sql).hexdigest()[:24].encode()


class OneTrip:
    """The one-statement step, for one run's ledger on PostgreSQL.

    ``claim_statement(n)`` is the ledger's claim of ``n`` deliveries (a worker's
    checks its batch's lease); each size is compiled once, as the ledger does.
    """

    def __init__(self, dialect: sa.Dialect, claim_statement: Callable[[int], sa.Update]):
        assert dialect.name == "postgresql" and dialect.paramstyle == "pyformat", dialect
        self.dialect = dialect
        self.claim_statement = claim_statement
        self._claims: dict[int, Prepared] = {}
        self._sql: dict[tuple[int, int, int], str] = {}
        self._reads: dict[int, tuple[sa.Select, str, dict[str, Any]]] = {}
        self._libpq: dict[str, _Libpq] = {}  # by the statement's pyformat SQL
        # the libpq connection the names in ``_prepared`` were prepared on
        self._pgconn: Any = None
        self._prepared: set[bytes] = set()
        self._cursor: Any = None  # reused on the driver connection it was opened on

    @staticmethod
    def fits(final: Sequence[dict[str, Any]], begin: Sequence[int]) -> bool:
        """Whether no row would be changed twice (see the module's docstring)."""
        return not begin or {row["b_id"] for row in final}.isdisjoint(begin)

    def _claim(self, n: int) -> Prepared:
        if n not in self._claims:
            self._claims[n] = Prepared(self.claim_statement(n), self.dialect)
        return self._claims[n]

    def _statement(self, final: int, marks: int, claims: int) -> str:
        """The statement for these numbers of rows (scalar parameters: psycopg dumps them
        several times faster than arrays; the server keeps a plan for each size in use)."""
        key = (final, marks, claims)
        if key not in self._sql:
            parts, selects = [], []
            if final:
                rows = ", ".join(_FINAL_ROW.format(i=i) for i in range(final))
                parts.append(_FINAL.format(rows=rows))
            if marks:
                ids = ", ".join(f"%(m_id{i})s" for i in range(marks))
                parts.append(_MARKED.format(ids=ids))
                selects.append("SELECT 0, id, 0 FROM marked")
            if claims:
                parts.append(f"claimed AS (\n{self._claim(claims).sql}\n)")
                selects.append("SELECT 1, id, attempts FROM claimed")
            body = "\nUNION ALL\n".join(selects) or "SELECT 0, 0, 0 WHERE false"
            self._sql[key] = "WITH " + ",\n".join(parts) + "\n" + body
        return self._sql[key]

    def run(
        self,
        conn: sa.Connection,
        final: Sequence[dict[str, Any]],
        claims: dict[str, Any],
        count: int,
        begin: Sequence[int],
        now: datetime,
        lease: int | None,
    ) -> tuple[dict[int, int], set[int]]:
        """Record ``final``, mark ``begin``, claim ``count`` (``claims``: the claim's values).

        Returns what the claim took (id → attempts) and the ids the mark took. Runs
        in autocommit, so it is committed when it returns: call it only outside a
        transaction (the ledger's ``transaction`` then has nothing left to commit).
        """
        params: dict[str, Any] = {"t_now": now, "t_lease": lease}
        for i, r in enumerate(final):
            params[f"f_id{i}"] = r["b_id"]
            params[f"f_status{i}"] = str(r["b_status"])
            params[f"f_code{i}"] = r["b_code"]
            params[f"f_reply{i}"] = r["b_reply"]
            params[f"f_queue{i}"] = r["b_queue"]
        for i, id_ in enumerate(begin):
            params[f"m_id{i}"] = id_
        if count:
            params.update(self._claim(count).params(claims))
        rows = self._execute(conn, self._statement(len(final), len(begin), count), params, True)
        took = {row[1]: row[2] for row in rows if row[0] == 1}
        return took, {row[1] for row in rows if row[0] == 0}

    def read(self, conn: sa.Connection, stmt: sa.Select) -> list[Any]:
        """The rows of a read-only statement built once (``campaigns pause`` looks, several
        times a second): one round trip instead of ``BEGIN``, the query and ``COMMIT``."""
        found = self._reads.get(id(stmt))
        if found is None:
            compiled = stmt.compile(dialect=self.dialect)
            found = self._reads[id(stmt)] = (stmt, str(compiled), dict(compiled.params))
        return self._execute(conn, found[1], found[2])

    def _execute(
        self, conn: sa.Connection, sql: str, params: dict[str, Any], libpq: bool = False
    ) -> list[Any]:
        """Run one statement in autocommit on ``conn``'s driver connection; its rows.

        ``libpq``: a step, whose rows are integers, run as a prepared statement through
        libpq when its values allow (the module's docstring). The connection stays in
        autocommit until :meth:`leave_autocommit`: the ledger calls it before any other
        transaction and before the connection goes back to the pool, so a run of
        one-statement steps pays no switch (a psycopg wait each way).
        """
        dbapi: Any = conn.connection.dbapi_connection
        assert not conn.in_transaction(), "one trip runs outside a transaction"
        if not dbapi.autocommit:
            dbapi.autocommit = True
        error = self.dialect.loaded_dbapi.Error
        try:
            if libpq:
                rows = self._run_libpq(dbapi, sql, params)
                if rows is not None:
                    return rows
            if self._cursor is None or self._cursor.connection is not dbapi:
                self._cursor = dbapi.cursor()  # one per connection, not one per step
            self._cursor.execute(sql, params)
            return self._cursor.fetchall()
        except error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, error) from exc

    def _run_libpq(self, dbapi: Any, sql: str, params: dict[str, Any]) -> list[Any] | None:
        """The step's rows, run through libpq; None when psycopg must run it instead."""
        from psycopg import OperationalError, pq
        from psycopg.errors import error_from_result

        statement = self._libpq.get(sql)
        if statement is None:
            statement = self._libpq[sql] = _Libpq(sql)
        values = [_text(params[name]) for name in statement.order]
        pgconn = dbapi.pgconn
        if _NO_TEXT in values or pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return None

        def check(result: Any) -> Any:
            if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                return result
            message = (result.error_message or b"").decode("utf-8", "replace").strip()
            # The server's errors carry a SQLSTATE; libpq's own (the connection broke, the
            # server crashed) have none: those are an OperationalError, as psycopg raises
            # them, which the ledger reconnects on.
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            if not state or pgconn.status != pq.ConnStatus.OK:
                raise OperationalError(message or "the connection to the server broke")
            raise error_from_result(result, encoding="utf-8")

        if pgconn is not self._pgconn:
            # another (or a new) connection: what it holds from an earlier run of ours
            found = check(pgconn.exec_(b"SELECT name FROM pg_prepared_statements"))
            self._prepared = {found.get_value(i, 0) for i in range(found.ntuples)}
            self._pgconn = pgconn
        if statement.name not in self._prepared:
            check(pgconn.prepare(statement.name, statement.sql))
            self._prepared.add(statement.name)
        result = check(pgconn.exec_prepared(statement.name, values))
        width = result.nfields
        return [
            tuple(int(result.get_value(r, c)) for c in range(width)) for r in range(result.ntuples)
        ]

    @staticmethod
    def leave_autocommit(conn: sa.Connection) -> None:
        """Back to transactions on ``conn``, for SQLAlchemy's own (atomic) work."""
        dbapi: Any = conn.connection.dbapi_connection
        if dbapi is not None and dbapi.autocommit:
            dbapi.autocommit = False
