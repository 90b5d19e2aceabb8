"""The per-message side of the delivery state machine: fetch, claim, record.

Every transition is committed, so the database is the truth after any crash:
``queued → sending`` (a claim) is committed before a message's envelope leaves,
its ``data_at`` (the body begins) before the first byte of its body, and
``sending → sent | deferred | failed | bounced | unknown`` after the server
answered (or, for ``unknown``, failed to after taking the whole message).

Claims and outcomes go in batches: one transaction records the outcomes
that arrived and claims the next few messages (``UPDATE … WHERE id IN (…)
RETURNING``). The sender keeps at most a small window of claimed messages
ahead per connection; a crash leaves ``unknown`` only those whose body had
begun (at most one per connection), the rest are queued again. Taking and
releasing the campaign itself is :mod:`newsletter.campaigns.runs`.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from newsletter import clock
from newsletter.campaigns import destinations, leases, statements, totals
from newsletter.campaigns.onetrip import OneTrip
from newsletter.campaigns.outcomes import Result, Sorted, sort_outcomes
from newsletter.campaigns.statements import SKIP, C, D, P, Prepared
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.config import Delivery as DeliverySettings
from newsletter.db import Database
from newsletter.db.locks import BUSY_TIMEOUT_MS, is_unreachable, retry_locked
from newsletter.errors import BadInput
from newsletter.subscribers.eligibility import SUBSCRIBER, SUBSCRIPTION, mailable
from newsletter.subscribers.status import Reason

T = TypeVar("T")
PAGE = 500
# Pages fetched in one transaction, at most, while the first ones are held back for busy
# destinations (lanes.py): the others further down still get claimed, in bounded memory.
HELD_PAGES = 4
_LOCK_POLL_MS = 200
_CACHE_KB = 1024


@dataclass
class Job:
    """One delivery on its way: fetched, claimed, composed, sent, recorded."""

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
    # whether its body began (its mark committed); None until a worker asks
    began: bool | None = None


@dataclass(frozen=True)
class Recorded:
    """What one transaction changed, for the in-memory counters.

    ``claimed`` are the claims that took: only those may be sent. ``missed``
    counts fetched messages the claim no longer could take (cancelled,
    paused, taken over): the run should look at the campaign now.
    """

    moves: list[tuple[str, str]]
    error: str | None
    claimed: list[Job]
    missed: int = 0
    marked: frozenset[int] = frozenset()  # ids whose body may now begin


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

    ``by_destination``: a throttling reply backs off its whole destination
    (:mod:`newsletter.campaigns.destinations`) rather than only its message.

    Every transaction runs on the run's own connection through
    :func:`~newsletter.db.locks.retry_locked`: while another process holds
    the database locked, it is tried again with growing pauses, and after
    ``wait`` seconds :class:`~newsletter.db.locks.DatabaseLocked` is raised.
    """

    by_destination = True

    def __init__(
        self,
        db: Database,
        campaign: Campaign,
        settings: DeliverySettings,
        message_id: Callable[[int], str] = str,
    ):
        assert campaign.id is not None
        self.db = db
        self.cid = campaign.id
        self.proof = campaign.kind == "proof"
        self.list_id = campaign.list_id
        self.settings = settings
        self.wait = settings.database_wait_seconds
        self.on_wait: Callable[[float], None] | None = None
        # A delivery id's Message-ID (Composer.message_id)
        self.message_id = message_id
        self._page = self._fetch_statement()
        dialect = db.engine.dialect
        self._final = Prepared(statements.FINAL, dialect)
        self._defer = Prepared(statements.DEFER, dialect)
        self._requeue = Prepared(statements.REQUEUE, dialect)
        self._unknown = Prepared(statements.UNKNOWN, dialect)
        self._throttle = Prepared(statements.THROTTLE, dialect)
        self._postpone = Prepared(statements.POSTPONE, dialect)
        # Destinations that throttled and have not accepted a message since (shared in the
        # database: destinations.load); None until looked up. ``probing`` holds those with
        # one message claimed to find out whether their backoff is over: until its outcome
        # is recorded, no other message to them is claimed by this run.
        self.backoff: dict[str, destinations.State] | None = None
        self.probing: set[str] = set()
        # The latest time this run postponed a message to: the run waits for it even when
        # the backoff that caused it is over (a probe was accepted meanwhile).
        self.postponed_until: datetime | None = None
        self._claims: dict[int, Prepared] = {}  # by batch size
        self._marks: dict[int, Prepared] = {}
        # PostgreSQL: the common step as one statement, one round trip (onetrip.py)
        pg = dialect.name == "postgresql"
        self._trip = OneTrip(dialect, self.claim_statement) if pg else None
        self._status: sa.Select | None = None  # still_ours's query, built once
        self._conn: sa.Connection | None = None
        # the lease ``take`` installed (None for a dry run): claims check it is still ours
        self.lease = campaign.lease_id
        self.pending: deque[Job] = deque()  # fetched, not yet claimed
        # An address's destination (the dispatcher's providers.Grouping: by name or MX), and
        # how many more of a destination may be claimed now (campaigns.lanes; None: any).
        # ``held_back``: pending jobs the last choice left for their destination's room.
        self.group: Callable[[str], str] = destinations.destination_of
        self.room: Callable[[str], int] | None = None
        self.held_back = 0

    def close(self) -> None:
        """Return the connection the run held for its per-message steps."""
        if self._conn is not None:
            if self._trip is not None:
                with contextlib.suppress(Exception):  # a broken one is not pooled again
                    self._trip.leave_autocommit(self._conn)
            if self.db.is_sqlite:
                self._conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                self._conn.exec_driver_sql("PRAGMA cache_size=-2000")  # SQLite's default
            self._conn.close()
            self._conn = None

    def _connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.db.engine.connect()
            if self.db.is_sqlite:
                # short waits inside SQLite, so retry_locked paces the waiting
                # and the run can say what it waits for
                self._conn.exec_driver_sql(f"PRAGMA busy_timeout={_LOCK_POLL_MS}")
                # the run touches a few pages at a time: a small page cache keeps
                # a long run's memory flat
                self._conn.exec_driver_sql(f"PRAGMA cache_size=-{_CACHE_KB}")
            self._conn.commit()
        return self._conn

    def transaction(
        self,
        work: Callable[[sa.Connection], T],
        *,
        wait: float | None = None,
        one_trip: bool = False,
    ) -> T:
        """Run ``work`` in one committed transaction, waiting out a locked database.

        ``one_trip``: ``work`` is one statement run by :class:`OneTrip` in autocommit.
        """

        def attempt() -> T:
            conn = self._connection()
            try:
                if self._trip is not None and not one_trip:
                    self._trip.leave_autocommit(conn)
                result = work(conn)
                conn.commit()
            except BaseException as exc:
                if is_unreachable(exc):
                    # the next attempt opens a new connection. Had this commit gone through
                    # unseen, running it again changes nothing: every statement takes only
                    # rows still ``sending`` under this lease, or still waiting (a claim)
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                        conn.close()
                    self._conn = None
                else:
                    conn.rollback()
                raise
            return result

        limit = self.wait if wait is None else wait
        return retry_locked(attempt, limit=limit, on_wait=self.on_wait)

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
            .where(D.c.id > P("b_after"))
            .where(sa.or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= P("b_due")))
            .order_by(D.c.id)
            .limit(PAGE)
        )

    def _fetch(self, conn: sa.Connection, now: datetime, after: int = 0) -> list[Any]:
        """The next page to send (due retries first); marks the no-longer-eligible skipped.

        ``after``: only deliveries with a higher id (the pages after those held back).
        """
        # "Due" on the schedules' clock: a delivery of a later wave waits queued until its
        # wave's time (newsletter.campaigns.waves), which a rehearsal's clock may move.
        due = clock.now()
        values = {"b_due": due, "b_after": after}
        rows = list(conn.execute(self._page, {"b_status": DeliveryStatus.DEFERRED, **values}))
        if len(rows) < PAGE:
            rows += conn.execute(self._page, {"b_status": DeliveryStatus.QUEUED, **values})
        skipped = [r for r in rows if not r.eligible]
        if skipped:
            conn.execute(SKIP, [{"b_id": r.id, "b_now": now} for r in skipped])
        return rows

    def step(
        self,
        finished: Sequence[Result],
        want: int,
        *,
        wait: float | None = None,
        begin: Sequence[int] = (),
    ) -> Recorded:
        """One transaction: record outcomes, mark bodies as begun, claim up to ``want`` messages.

        ``begin`` are claimed deliveries whose body is about to be written: the mark is
        committed first (``Recorded.marked`` says which took), so that after a crash
        recovery tells those that may have arrived from those that cannot have.

        When fewer than ``want`` fetched messages are pending, the page is
        fetched afresh (it holds the pending ones still waiting, re-checked).
        An error that stops the run (the server unreachable, a bug) claims
        nothing more.
        """
        now = datetime.now(UTC)
        by_destination = self.by_destination and not self.proof
        rows = sort_outcomes(
            finished,
            self.settings,
            proof=self.proof,
            lease=self.lease,
            now=now,
            by_destination=by_destination,
            group=self.group,
        )
        if rows.error:
            want = 0
        for job, _ in finished:
            self.probing.discard(self.group(job.address or ""))

        one_trip = (
            self._trip is not None
            and not (rows.defer or rows.requeue or rows.unknown or rows.bounced or rows.throttle)
            and want <= len(self.pending) - self.held_back
            and (not by_destination or self.backoff == {})
            and self._trip.fits(rows.final, begin)
        )

        def work(
            conn: sa.Connection,
        ) -> tuple[list[Any] | None, deque[Job], list[Job], set[int], dict[int, int], set[int]]:
            if one_trip:
                assert self._trip is not None
                # no destination backs off: nothing to postpone, only busy ones to hold back
                asked, postponed = self._choose(self.pending, want, now, {}, set(self.probing))
                assert not postponed, postponed
                values = self._claim_values(asked, now)
                took, marked = self._trip.run(
                    conn, rows.final, values, len(asked), begin, now, self.lease
                )
                return None, self.pending, asked, set(), took, marked
            self._final.run(conn, rows.final)
            self._defer.run(conn, rows.defer)
            self._requeue.run(conn, rows.requeue)
            self._unknown.run(conn, rows.unknown)
            if rows.bounced:
                self._suppress(conn, rows.bounced)
            if by_destination:
                self._destinations(conn, rows, now)
            fetched = self._fetch(conn, now) if want > len(self.pending) - self.held_back else None
            pending = (
                self.pending if fetched is None else deque(_job(r) for r in fetched if r.eligible)
            )
            room: dict[str, int] = {}  # destination → claims left, over every page
            probes = set(self.probing)
            asked, postponed = self._choose(pending, want, now, room, probes)
            page = fetched
            while page is not None and len(asked) < want and self.held_back and pending:
                if len(page) < PAGE or len(fetched or ()) >= HELD_PAGES * PAGE:
                    break
                # a page held back for busy destinations: the others may be on the next one
                page = self._fetch(conn, now, after=max(job.id for job in pending))
                more = deque(_job(r) for r in page if r.eligible)
                held = self.held_back
                extra, later = self._choose(more, want - len(asked), now, room, probes)
                self.held_back += held
                asked, postponed = asked + extra, postponed + later
                pending += more
                fetched = [*(fetched or ()), *page]
            if postponed:
                self._postpone.run(conn, [{"b_id": i, "b_next": t} for i, t in postponed])
                self.postponed_until = max(
                    [t for _, t in postponed] + [self.postponed_until or now]
                )
            took = self._claim(conn, asked, now) if asked else {}
            marked = self._mark(conn, begin, now) if begin else set()
            return fetched, pending, asked, {i for i, _ in postponed}, took, marked

        fetched, pending, asked, postponed, took, marked = self.transaction(
            work, wait=wait, one_trip=one_trip
        )
        moves = rows.moves
        if fetched is not None:
            moves += [(r.status, DeliveryStatus.SKIPPED.value) for r in fetched if not r.eligible]
        gone = postponed | {job.id for job in asked}
        # usually the first ones: take them off the front, not rebuild a page per claim
        while gone and pending and pending[0].id in gone:
            gone.discard(pending.popleft().id)
        self.pending = deque(job for job in pending if job.id not in gone) if gone else pending
        claimed = []
        for job in asked:
            if job.id in took:
                if self.backoff and (name := self.group(job.address)) in self.backoff:
                    self.probing.add(name)
                moves.append((job.status, DeliveryStatus.SENDING))
                job.attempts = took[job.id]
                claimed.append(job)
        missed = len(asked) - len(claimed)
        return Recorded(moves, rows.error, claimed, missed=missed, marked=frozenset(marked))

    def _destinations(self, conn: sa.Connection, rows: Sorted, now: datetime) -> None:
        """Record throttles and recoveries; know which destinations are backing off."""
        d = self.settings
        if rows.throttled:
            until = destinations.throttled(
                conn,
                self.cid,
                rows.throttled,
                now,
                d.throttle_backoff_seconds,
                d.throttle_max_backoff_seconds,
            )
            for row in rows.throttle:
                row["b_next"] = until[row.pop("destination")]
            self._throttle.run(conn, rows.throttle)
            self.backoff = None  # read again below, with the new levels
        if self.backoff is None or rows.throttled:
            self.backoff = destinations.load(conn, self.cid)
        back = rows.accepted & self.backoff.keys()
        if back:
            destinations.recovered(conn, self.cid, back)
            for name in back:
                del self.backoff[name]

    def _choose(
        self,
        pending: deque[Job],
        want: int,
        now: datetime,
        room: dict[str, int],
        probes: set[str],
    ) -> tuple[list[Job], list[tuple[int, datetime]]]:
        """The first ``want`` pending jobs to claim, and those to postpone (id, until).

        A job to a destination in backoff waits for the backoff's end; once it has ended,
        one job probes the destination and the others wait a little (a tenth of the base
        backoff) to learn whether it still throttles. A job to a destination without
        ``room`` (its connections busy, its rate reached) stays pending, held back, and the
        jobs behind it are chosen instead. ``room`` and ``probes`` carry what earlier pages
        of the same step took.
        """
        self.held_back = 0
        if not self.backoff and self.room is None:
            return [pending[i] for i in range(min(want, len(pending)))], []
        asked: list[Job] = []
        postponed: list[tuple[int, datetime]] = []
        short = now + timedelta(seconds=max(1.0, self.settings.throttle_backoff_seconds / 10))
        backoff = self.backoff or {}
        for job in pending:
            if len(asked) >= want:
                break
            name = self.group(job.address)
            state = backoff.get(name)
            if state is not None and state.until is not None and state.until > now:
                postponed.append((job.id, state.until))
                continue
            if state is not None and name in probes:
                postponed.append((job.id, short))
                continue
            if self.room is not None:
                if name not in room:
                    room[name] = self.room(name)
                if room[name] <= 0:
                    self.held_back += 1
                    continue
                room[name] -= 1
            if state is not None:
                probes.add(name)
            asked.append(job)
        return asked, postponed

    def _claim(self, conn: sa.Connection, jobs: list[Job], now: datetime) -> dict[int, int]:
        """Claim a batch; delivery id → its attempts, for the rows the claim took."""
        n = len(jobs)
        if n not in self._claims:
            self._claims[n] = Prepared(self.claim_statement(n), self.db.engine.dialect)
        values = self._claim_values(jobs, now)
        return {row[0]: row[1] for row in self._claims[n].returning(conn, values)}

    def _claim_values(self, jobs: Sequence[Job], now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {f"b_id{i}": job.id for i, job in enumerate(jobs)}
        for i, job in enumerate(jobs):  # the claim records it; the composer writes it
            job.message_id = job.message_id or self.message_id(job.id)
            values[f"b_mid{i}"] = job.message_id
        values.update(b_now=now, b_lease=self.lease)
        return values

    def _mark(self, conn: sa.Connection, ids: Sequence[int], now: datetime) -> set[int]:
        """Mark claimed deliveries as begun; the ids the mark took (this run's claims)."""
        n = len(ids)
        if n not in self._marks:
            self._marks[n] = Prepared(statements.mark(n), self.db.engine.dialect)
        values: dict[str, Any] = {f"b_id{i}": id_ for i, id_ in enumerate(ids)}
        values.update(b_now=now, b_lease=self.lease)
        return {row[0] for row in self._marks[n].returning(conn, values)}

    def claim_statement(self, n: int) -> sa.Update:
        """The claim of ``n`` deliveries (a worker's ledger checks its batch's lease instead)."""
        return statements.claim(n)

    def _suppress(self, conn: sa.Connection, bounced: list[tuple[str, str]]) -> None:
        # imported on the first bounce: the address parser is not needed to send
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

    def counts(self) -> dict[str, int]:
        """Deliveries per status, on the run's own connection."""
        return self.transaction(lambda conn: totals.status_counts(conn, self.cid))

    def next_retry(self) -> float | None:
        """When the earliest deferred delivery is due, or a backoff ends (epoch seconds).

        Messages postponed for their destination's backoff wait ``queued`` with a
        ``next_attempt_at``, as do a later local-time wave's (``campaigns/waves.py``); only
        the former are worth this run's wait, so they count through the backoffs it knows.
        """
        query = (
            sa.select(D.c.next_attempt_at)
            .where(D.c.campaign_id == self.cid, D.c.status == DeliveryStatus.DEFERRED)
            .order_by(D.c.next_attempt_at)
            .limit(1)
        )
        when = self.transaction(lambda conn: conn.execute(query).scalar())
        times = [when.timestamp()] if when is not None else []
        times += [s.until.timestamp() for s in (self.backoff or {}).values() if s.until]
        if self.postponed_until is not None:
            times.append(self.postponed_until.timestamp())
            if self.postponed_until.timestamp() <= time.time():
                self.postponed_until = None  # due now: one more fetch takes them
        return min(times, default=None)

    def still_ours(self) -> bool:
        """Whether the campaign is still sending, by this run (not paused, cancelled, taken)."""
        if self._status is None:
            self._status = sa.select(C.c.status, C.c.lease_id).where(C.c.id == self.cid)
        rows = self.read(self._status)
        return bool(rows) and tuple(rows[0]) == (CampaignStatus.SENDING, self.lease)

    def read(self, query: sa.Select) -> list[Any]:
        """The rows of a read-only query built once, on the run's connection."""
        if self._trip is not None:
            trip = self._trip
            return self.transaction(lambda conn: trip.read(conn, query), one_trip=True)
        return self.transaction(lambda conn: list(conn.execute(query)))

    def recent_starts(self, limit: int) -> list[float]:
        """The last ``limit`` send times of the last hour (any campaign), oldest first.

        Seeds the rate limiter, which never needs more starts than its largest
        limit: after a big campaign the last hour can hold far more rows.
        """
        since = datetime.now(UTC) - timedelta(hours=1)
        query = (
            sa.select(D.c.claimed_at)
            .where(D.c.claimed_at >= since)
            .order_by(D.c.claimed_at.desc())
            .limit(limit)
        )
        starts = self.transaction(lambda conn: list(conn.execute(query).scalars()))
        return sorted(r.timestamp() for r in starts if r is not None)
