"""The delivery state machine's UPDATE statements, and how the hot path runs them.

Kept apart from :mod:`newsletter.campaigns.ledger` so the SQL of each
transition can be read in one place: every state change a delivery can make
is one statement here. They are built at import and compiled once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus
from newsletter.db.columns import UTCDateTime

UNKNOWN_REPLY = (
    "outcome unknown: the sender stopped while this message was in flight; "
    "not sent again unless resumed with --resend-unknown"
)
# What recovery after a dead run writes: its body had begun, its final reply was not recorded.
LOST_REPLY = (
    "outcome unknown: the sender stopped after this message's body began and before its "
    "final reply was recorded; not sent again unless resumed with --resend-unknown"
)
UNRECORDED_REPLY = (
    "outcome unknown: the server answered, but the database stayed locked and the answer "
    "could not be recorded; not sent again unless resumed with --resend-unknown"
)
SKIPPED_REPLY = "not sent: unsubscribed, suppressed or removed since the campaign was created"

# One letter each: the tables appear in nearly every expression of the ledger.
D = Delivery.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]
P = sa.bindparam
_BY_ID = D.c.id == P("b_id")
# Outcomes are written only into the claim of this run's lease: a sender
# whose campaign was taken over cannot overwrite what its successor records.
# Only while it is ``sending``, or ``unknown`` because a take-over found its
# body begun (the outcome that comes late is the truth): a transaction run
# again after a lost connection (whose commit may have gone through unseen)
# then changes nothing twice.
_OURS = sa.and_(
    _BY_ID,
    D.c.lease_id == P("b_lease"),
    sa.or_(  # not IN: a statement compiled once has no expanding parameters
        D.c.status == DeliveryStatus.SENDING.value,
        D.c.status == DeliveryStatus.UNKNOWN.value,
    ),
)


def _stmt(**values: Any) -> sa.Update:
    return sa.update(D).where(_OURS).values(**values)


# A claim is a compare-and-swap on a batch: it takes each delivery only while
# it is still waiting (queued, or deferred and fetched as due) and only while
# this run's lease still holds the campaign. A cancel, a pause or a sender
# taking over in between makes it take nothing, so the message is not sent
# (and never sent twice). RETURNING says which rows it took. The Message-ID
# of each row is the composer's (campaign uid, id, MAC over the id, domain),
# passed per row: the MAC cannot be computed in SQL.
def claim(n: int, holds: sa.ColumnElement[bool] | None = None) -> sa.Update:
    """The claim of ``n`` deliveries, ``b_id0`` … (one statement per batch size).

    ``holds`` is the condition that the run's lease ``b_lease`` still holds
    the campaign; by default, that the campaign is sending under it. A
    worker sending one batch (``newsletter.workers``) passes its own.
    """
    if holds is None:
        holds = sa.exists().where(
            C.c.id == D.c.campaign_id,
            C.c.status == CampaignStatus.SENDING.value,
            C.c.lease_id == P("b_lease"),
        )
    return (
        sa.update(D)
        .where(
            D.c.id.in_([P(f"b_id{i}") for i in range(n)]),
            sa.or_(
                D.c.status == DeliveryStatus.QUEUED.value,
                D.c.status == DeliveryStatus.DEFERRED.value,
            ),
        )
        .where(holds)
        .values(
            status=DeliveryStatus.SENDING.value,
            attempts=D.c.attempts + 1,
            claimed_at=P("b_now", type_=UTCDateTime),
            message_id=sa.case(
                *((D.c.id == P(f"b_id{i}"), P(f"b_mid{i}", type_=sa.String)) for i in range(n))
            ),
            lease_id=P("b_lease"),
            data_at=None,
        )
        .returning(D.c.id, D.c.attempts)
    )


# The body of each message is about to begin: committed before its first byte is written,
# and only into this run's own claim (a run that took the campaign over has already sorted
# the claims out, see ``recover``). RETURNING says which marks took: only those may be sent.
def mark(n: int) -> sa.Update:
    """The mark of ``n`` claimed deliveries, ``b_id0`` …, as begun (one statement per size)."""
    return (
        sa.update(D)
        .where(
            D.c.id.in_([P(f"b_id{i}") for i in range(n)]),
            D.c.status == DeliveryStatus.SENDING.value,
            D.c.lease_id == P("b_lease"),
        )
        .values(data_at=P("b_now", type_=UTCDateTime))
        .returning(D.c.id)
    )


def recover(
    connection: sa.Connection, where: sa.ColumnElement[bool], lease: int, now: Any
) -> tuple[int, int]:
    """Settle the claims a dead run left ``sending`` (those ``where`` selects): (queued, unknown).

    A claim whose body never began cannot have reached the server: it goes back to
    ``queued``, as if never claimed. One whose body began may have arrived: ``unknown``.
    Queued first: a mark committed by a run still alive between the two statements is then
    seen by the second (PostgreSQL re-reads a row another transaction changed).
    """
    theirs = sa.and_(
        where,
        D.c.status == DeliveryStatus.SENDING.value,
        sa.or_(D.c.lease_id.is_(None), D.c.lease_id != lease),
    )
    queued = connection.execute(
        sa.update(D)
        .where(theirs, D.c.data_at.is_(None))
        .values(
            status=DeliveryStatus.QUEUED.value,
            attempts=D.c.attempts - 1,
            claimed_at=None,
            next_attempt_at=None,
            lease_id=None,
        )
    )
    unknown = connection.execute(
        sa.update(D)
        .where(theirs)
        .values(status=DeliveryStatus.UNKNOWN.value, smtp_reply=LOST_REPLY, finished_at=now)
    )
    return queued.rowcount or 0, unknown.rowcount or 0


FINAL = _stmt(
    status=P("b_status"),
    smtp_code=P("b_code"),
    smtp_reply=P("b_reply"),
    queue_id=P("b_queue"),
    finished_at=P("b_now"),
    next_attempt_at=None,
)
DEFER = _stmt(
    status=DeliveryStatus.DEFERRED.value,
    smtp_code=P("b_code"),
    smtp_reply=P("b_reply"),
    next_attempt_at=P("b_next"),
    history=sa.func.coalesce(D.c.history, "") + P("b_line"),
)
# A throttling deferral (see destinations): the destination said "later", not "no", so the
# attempt is not counted against max_attempts.
THROTTLE = _stmt(
    status=DeliveryStatus.DEFERRED.value,
    attempts=D.c.attempts - 1,
    smtp_code=P("b_code"),
    smtp_reply=P("b_reply"),
    next_attempt_at=P("b_next"),
    history=sa.func.coalesce(D.c.history, "") + P("b_line"),
)
# Fetched but not claimed because its destination is backing off: waits, still queued (or
# deferred), until the backoff ends. Nothing was attempted, so nothing else changes.
POSTPONE = (
    sa.update(D)
    .where(
        _BY_ID,
        sa.or_(  # not IN: a statement compiled once has no expanding parameters
            D.c.status == DeliveryStatus.QUEUED.value,
            D.c.status == DeliveryStatus.DEFERRED.value,
        ),
    )
    .values(next_attempt_at=P("b_next"))
)
# Claimed but never handed to the transport (the run stopped first), or the
# server could not be reached at all: as if never claimed.
REQUEUE = _stmt(
    status=DeliveryStatus.QUEUED.value,
    attempts=D.c.attempts - 1,
    claimed_at=None,
    next_attempt_at=None,
    lease_id=None,
)
UNKNOWN = _stmt(
    status=DeliveryStatus.UNKNOWN.value, smtp_reply=P("b_reply"), finished_at=P("b_now")
)
SKIP = (
    sa.update(D)
    .where(_BY_ID)
    .values(
        status=DeliveryStatus.SKIPPED.value,
        smtp_reply=SKIPPED_REPLY,
        finished_at=P("b_now"),
        next_attempt_at=None,
    )
)


class Prepared:
    """A statement compiled once for the engine's dialect, run as driver SQL.

    Recording outcomes runs these for every message; SQLAlchemy's
    per-execution bookkeeping cost more than the database, so they are
    compiled once and their parameters handed straight to the driver, on any
    backend, while the statements stay SQLAlchemy expressions.
    """

    def __init__(self, stmt: sa.Update, dialect: sa.Dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        self.order = compiled.positiontup if compiled.positional else None
        to_db = UTCDateTime().bind_processor(dialect)
        self.convert = {n for n in self.defaults if n in ("b_now", "b_next")}
        self.to_db = to_db or (lambda v: v)
        # a batch's rows share one timestamp: convert it once, not per row
        self._last: tuple[Any, Any] = (None, None)

    def _db_value(self, value: Any) -> Any:
        if value is not self._last[0]:
            self._last = (value, self.to_db(value))
        return self._last[1]

    def params(self, values: dict[str, Any]) -> Any:
        merged = self.defaults | values
        for name in self.convert:
            merged[name] = self._db_value(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[n] for n in self.order)

    def run(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            cursor = _cursor(conn)
            try:
                cursor.executemany(self.sql, [self.params(r) for r in rows])
            finally:
                cursor.close()

    def returning(self, conn: sa.Connection, row: dict[str, Any]) -> list[Any]:
        """Run for one row; the rows its RETURNING clause gives back."""
        cursor = _cursor(conn)
        try:
            cursor.execute(self.sql, self.params(row))
            return cursor.fetchall()
        finally:
            cursor.close()


def _cursor(conn: sa.Connection) -> Any:
    """A driver cursor inside ``conn``'s transaction (committed or rolled back by it).

    Skips SQLAlchemy's per-execution events and result wrapping, which cost
    more than the statement on this path; errors still come as SQLAlchemy's
    (``DBAPIError``), so a locked database is recognised as such.
    """
    if not conn.in_transaction():
        conn.begin()
    return _Wrapped(conn.connection.dbapi_connection.cursor(), conn.dialect)  # type: ignore[union-attr]


class _Wrapped:
    """A driver cursor whose errors are wrapped as SQLAlchemy's ``DBAPIError``."""

    def __init__(self, cursor: Any, dialect: sa.Dialect):
        self.cursor = cursor
        self.dbapi_error = dialect.loaded_dbapi.Error

    def _call(self, method: str, sql: str, params: Any) -> None:
        try:
            getattr(self.cursor, method)(sql, params)
        except self.dbapi_error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, self.dbapi_error) from exc

    def execute(self, sql: str, params: Any) -> None:
        self._call("execute", sql, params)

    def executemany(self, sql: str, params: Any) -> None:
        self._call("executemany", sql, params)

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()

    def close(self) -> None:
        self.cursor.close()
