"""The per-message side of the delivery state machine: fetch, claim, record.

Every transition is one committed statement batch, so the database is the
truth after any crash: ``queued → sending`` is committed before a message's
bytes leave, ``sending → sent | deferred | failed | bounced | unknown`` after
the server answered (or, for ``unknown``, failed to after taking the whole
message). Statements (:mod:`newsletter.campaigns.statements`) are
compiled once per run; a message costs one transaction (its outcome and the
next claim share it). Taking and releasing the campaign itself is
:mod:`newsletter.campaigns.runs`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns import leases, statements
from newsletter.campaigns.statements import SKIP, UNKNOWN_REPLY, C, D, P, Prepared
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.config import Delivery as DeliverySettings
from newsletter.db import Database
from newsletter.db.locks import BUSY_TIMEOUT_MS, retry_locked
from newsletter.errors import BadInput
from newsletter.subscribers.eligibility import SUBSCRIBER, SUBSCRIPTION, mailable
from newsletter.subscribers.status import Reason
from newsletter.transports import (
    BOUNCED,
    DEFERRED,
    FAILED,
    UNKNOWN,
    Outcome,
    TransportUnavailable,
)

T = TypeVar("T")
PAGE = 500
_LOCK_POLL_MS = 200


@dataclass
class Job:
    """One delivery on its way: loaded, then composed, claimed, sent, recorded."""

    id: int
    address: str
    name: str | None
    subscriber_id: int | None
    attempts: int
    status: str
    edition: str | None = None  # the language edition this recipient gets
    sender: str = ""
    rcpt: str = ""  # the address as the envelope carries it (ASCII domain)
    message_id: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class Recorded:
    """What one transaction changed, for the in-memory counters.

    ``claimed`` are the claims that took: only those may be sent.
    """

    moves: list[tuple[str, str]]
    error: str | None
    claimed: list[Job]


# What a Job is read from; both the send path and dry runs select exactly this.
JOB_COLUMNS = (
    D.c.id,
    D.c.address,
    D.c.name,
    D.c.subscriber_id,
    D.c.attempts,
    D.c.status,
    D.c.edition,
)


def _job(r: Any) -> Job:
    return Job(r.id, r.address, r.name, r.subscriber_id, r.attempts, r.status, r.edition)


class Ledger:
    """The per-run database side of the sender, for one campaign.

    Every transaction runs on the run's own connection through
    :func:`~newsletter.db.locks.retry_locked`: while another process holds
    the database locked, it is tried again with growing pauses, and after
    ``wait`` seconds :class:`~newsletter.db.locks.DatabaseLocked` is raised.
    """

    def __init__(self, db: Database, campaign: Campaign, settings: DeliverySettings):
        assert campaign.id is not None
        self.db = db
        self.cid = campaign.id
        self.proof = campaign.kind == "proof"
        self.list_id = campaign.list_id
        self.settings = settings
        self.wait = settings.database_wait_seconds
        self.on_wait: Callable[[float], None] | None = None
        self._fetch = self._fetch_statement()
        dialect = db.engine.dialect
        self._claim = Prepared(statements.CLAIM, dialect)
        self._final = Prepared(statements.FINAL, dialect)
        self._defer = Prepared(statements.DEFER, dialect)
        self._requeue = Prepared(statements.REQUEUE, dialect)
        self._unknown = Prepared(statements.UNKNOWN, dialect)
        self._conn: sa.Connection | None = None
        # the lease ``take`` installed (None for a dry run): claims check it is still ours
        self.lease = campaign.lease_id

    def close(self) -> None:
        """Return the connection the run held for its per-message steps."""
        if self._conn is not None:
            if self.db.is_sqlite:
                self._conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn.close()
            self._conn = None

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.db.engine.connect()
            if self.db.is_sqlite:
                # short waits inside SQLite, so retry_locked paces the waiting
                # and the run can say what it waits for
                self._conn.exec_driver_sql(f"PRAGMA busy_timeout={_LOCK_POLL_MS}")
            self._conn.commit()
        return self._conn

    def transaction(self, work: Callable[[sa.Connection], T], *, wait: float | None = None) -> T:
        """Run ``work`` in one committed transaction, waiting out a locked database."""

        def attempt() -> T:
            conn = self._connection()
            try:
                result = work(conn)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return result

        return retry_locked(
            attempt, limit=self.wait if wait is None else wait, on_wait=self.on_wait
        )

    def _fetch_statement(self) -> sa.Select:
        eligible: Any = D.c.address.isnot(None)
        if not self.proof:
            # Re-checked at send time: an unsubscribe after the snapshot wins.
            eligible = sa.and_(eligible, mailable(self.list_id))
        return (
            sa.select(
                *JOB_COLUMNS,
                sa.case((eligible, True), else_=False).label("eligible"),
            )
            .select_from(D)
            .outerjoin(SUBSCRIBER, SUBSCRIBER.c.id == D.c.subscriber_id)
            .outerjoin(
                SUBSCRIPTION,
                sa.and_(
                    SUBSCRIPTION.c.subscriber_id == D.c.subscriber_id,
                    SUBSCRIPTION.c.list_id == self.list_id,
                ),
            )
            .where(D.c.campaign_id == self.cid, D.c.status == sa.bindparam("b_status"))
            .where(sa.or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= P("b_due")))
            .order_by(D.c.id)
            .limit(PAGE)
        )

    def fetch(self, exclude: set[int]) -> tuple[list[Job], list[tuple[str, str]]]:
        """The next page to send (due retries first), skipping the no-longer-eligible."""
        now = datetime.now(UTC)

        def work(conn: sa.Connection) -> list[Any]:
            rows = list(
                conn.execute(self._fetch, {"b_status": DeliveryStatus.DEFERRED, "b_due": now})
            )
            if len(rows) < PAGE:
                rows += conn.execute(self._fetch, {"b_status": DeliveryStatus.QUEUED, "b_due": now})
            rows = [r for r in rows if r.id not in exclude]
            skipped = [r for r in rows if not r.eligible]
            if skipped:
                conn.execute(SKIP, [{"b_id": r.id, "b_now": now} for r in skipped])
            return rows

        rows = self.transaction(work)
        jobs = [_job(r) for r in rows if r.eligible]
        return jobs, [(r.status, DeliveryStatus.SKIPPED.value) for r in rows if not r.eligible]

    def _sort(
        self, finished: Sequence[tuple[Job, Outcome | BaseException]], now: datetime
    ) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str]], str | None, list[Any]]:
        """Which statement records each outcome, and the state moves that makes."""
        d = self.settings
        rows: dict[str, list[dict[str, Any]]] = {
            "final": [],
            "defer": [],
            "requeue": [],
            "unknown": [],
        }
        moves: list[tuple[str, str]] = []
        bounced: list[tuple[str, str]] = []
        error: str | None = None
        lease = self.lease
        for job, outcome in finished:
            if isinstance(outcome, TransportUnavailable) and self.proof:
                # a proof is a check of delivery now: it fails with the reason
                outcome = Outcome(FAILED, None, str(outcome))
            if isinstance(outcome, TransportUnavailable):
                error = error or str(outcome)
                rows["requeue"].append({"b_id": job.id, "b_lease": lease})
                moves.append((DeliveryStatus.SENDING, DeliveryStatus.QUEUED))
                continue
            if isinstance(outcome, BaseException):
                error = error or f"internal error: {outcome!r}"
                reply = f"{UNKNOWN_REPLY} ({outcome!r})"
                outcome = Outcome(UNKNOWN, None, reply)
            if outcome.status == UNKNOWN:
                rows["unknown"].append(
                    {"b_id": job.id, "b_reply": outcome.reply, "b_now": now, "b_lease": lease}
                )
                moves.append((DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN))
            elif outcome.status == DEFERRED and job.attempts < d.max_attempts and not self.proof:
                delay = d.retry_base_seconds * 2 ** (job.attempts - 1)
                rows["defer"].append(
                    {
                        "b_id": job.id,
                        "b_lease": lease,
                        "b_code": outcome.code,
                        "b_reply": outcome.reply,
                        "b_next": now + timedelta(seconds=delay),
                        "b_line": f"{now:%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n",
                    }
                )
                moves.append((DeliveryStatus.SENDING, DeliveryStatus.DEFERRED))
            else:
                # a deferral past the retry limit (or of a proof) is a failure
                status = DeliveryStatus.FAILED if outcome.status == DEFERRED else outcome.status
                rows["final"].append(
                    {
                        "b_id": job.id,
                        "b_lease": lease,
                        "b_status": status,
                        "b_code": outcome.code,
                        "b_reply": outcome.reply,
                        "b_queue": outcome.queue_id,
                        "b_now": now,
                    }
                )
                moves.append((DeliveryStatus.SENDING, status))
                if outcome.status == BOUNCED:
                    bounced.append((job.address, outcome.reply))
        return rows, moves, error, bounced

    def step(
        self,
        finished: Sequence[tuple[Job, Outcome | BaseException]],
        claims: Sequence[Job],
        *,
        wait: float | None = None,
    ) -> Recorded:
        """One transaction: record outcomes, then claim the next messages."""
        now = datetime.now(UTC)
        rows, moves, error, bounced = self._sort(finished, now)
        if error:
            claims = []  # the run stops: claim nothing more

        def work(conn: sa.Connection) -> list[Job]:
            self._final.run(conn, rows["final"])
            self._defer.run(conn, rows["defer"])
            self._requeue.run(conn, rows["requeue"])
            self._unknown.run(conn, rows["unknown"])
            if bounced:
                self._suppress(conn, bounced)
            return [
                job
                for job in claims
                if self._claim.changed(
                    conn,
                    {
                        "b_id": job.id,
                        "b_from": job.status,
                        "b_mid": job.message_id,
                        "b_now": now,
                        "b_lease": self.lease,
                    },
                )
            ]

        claimed = self.transaction(work, wait=wait)
        for job in claimed:
            job.attempts += 1
            moves.append((job.status, DeliveryStatus.SENDING))
        return Recorded(moves, error, claimed)

    def _suppress(self, conn: sa.Connection, bounced: list[tuple[str, str]]) -> None:
        from newsletter.subscribers.suppressions import suppress

        session = Session(bind=conn, info={"database": self.db})
        for address, reply in bounced:
            # an address the subscriber code cannot parse cannot be suppressed
            with contextlib.suppress(BadInput):
                suppress(
                    session,
                    address,
                    Reason.BOUNCED,
                    detail=reply[:500],
                    source=f"campaign:{self.cid}",
                    actor="sender",
                )
        session.flush()

    def heartbeat(self) -> bool:
        """Renew this run's lease; False when another sender has taken the campaign over."""
        assert self.lease is not None
        lease, seconds = self.lease, self.settings.lease_seconds
        return self.transaction(lambda conn: leases.renew(conn, lease, seconds))

    def iter_open(self) -> Iterator[Job]:
        """Every delivery still to be attempted, by id, read-only (for dry runs)."""
        open_ = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)
        last = 0
        while True:
            with self.db.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(*JOB_COLUMNS)
                    .where(D.c.campaign_id == self.cid, D.c.status.in_(open_), D.c.id > last)
                    .order_by(D.c.id)
                    .limit(PAGE)
                ).all()
            if not rows:
                return
            for r in rows:
                if r.address is not None:
                    yield _job(r)
            last = rows[-1].id

    def next_retry(self) -> float | None:
        """When the earliest deferred delivery is due (epoch seconds), or None."""
        with self.db.engine.connect() as conn:
            when = conn.execute(
                sa.select(D.c.next_attempt_at)
                .where(D.c.campaign_id == self.cid, D.c.status == DeliveryStatus.DEFERRED)
                .order_by(D.c.next_attempt_at)
                .limit(1)
            ).scalar()
        return when.timestamp() if when is not None else None

    def still_ours(self) -> bool:
        """Whether the campaign is still sending, by this run (not paused, cancelled, taken)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(C.c.status, C.c.lease_id).where(C.c.id == self.cid)
            ).first()
        return row is not None and tuple(row) == (CampaignStatus.SENDING, self.lease)

    def recent_starts(self, limit: int) -> list[float]:
        """The last ``limit`` send times of the last hour (any campaign), oldest first.

        Seeds the rate limiter, which never needs more starts than its largest
        limit: after a big campaign the last hour can hold far more rows.
        """
        since = datetime.now(UTC) - timedelta(hours=1)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(D.c.claimed_at)
                .where(D.c.claimed_at >= since)
                .order_by(D.c.claimed_at.desc())
                .limit(limit)
            )
            return sorted(r.timestamp() for r in rows.scalars() if r is not None)
