"""The sending loop of one run: one dispatcher thread, one worker per connection.

The dispatcher (the calling thread) owns the database and the composing; one
worker thread per transport connection does the network I/O
(:mod:`newsletter.campaigns.connections`, which holds all the two share).
Workers take composed messages from a short ready queue, so a worker that
finishes a message starts the next at once: it never waits for composing,
and for the database only to begin a body (below).

The dispatcher claims messages in batches, a small window ahead: at most
``claim_window`` claimed (committed as ``sending``) and not yet recorded per
connection, in flight, ready or waiting, whatever happens; a connection whose reply is
overdue stops counting (``Connections.watch``: its waiting work moves to the others or to a
spare). Outcomes are recorded in the same batched transactions. When the run stops
(Ctrl-C, pause, cancel, an error), the claimed messages not yet sent go back to the queue.

What was on the wire is known after a crash, too. Before a worker writes the
first byte of a message's body (after the server's ``354``) it asks the
dispatcher to mark the delivery's ``data_at`` and waits for that commit;
the dispatcher commits the marks of every connection waiting at that moment
in one transaction (a group commit), together with every outcome that has
arrived. A worker appends a message's outcome before it asks to begin the
next one's body, and the dispatcher takes the marks before the outcomes, so
a committed mark always comes with the outcome of the connection's previous
message: at any commit, at most one delivery per connection has begun and
has no recorded outcome (per connection open at once: the pool and the spares that
replace stalled ones). Those are all a crash can leave ``unknown``
(``runs.take`` / ``batches.take`` on resume); a claim without a mark goes
back to ``queued``. A mark that is not committed within the transport's
timeout (a locked database, the run stopping) means the body is not sent:
the connection is dropped and the message goes back to the queue.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.campaigns.composer import Composer
from newsletter.campaigns.lanes import for_run
from newsletter.campaigns.leases import HEARTBEATS_PER_LEASE
from newsletter.campaigns.ledger import Job, Ledger, Recorded
from newsletter.campaigns.outcomes import NOT_SENT, Result
from newsletter.campaigns.pace import Pace
from newsletter.campaigns.recording import Outcomes
from newsletter.campaigns.routes import Routes
from newsletter.campaigns.tables import Campaign
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.locks import DatabaseLocked
from newsletter.ratelimit import Pacer
from newsletter.transports import Transport, TransportUnavailable

_POLL = 0.2  # seconds between checks for Ctrl-C
# Seconds between looks at the campaign row (`campaigns pause` / `cancel` from
# another process, a take-over): until the sender looks, a worker may still
# start a message that was claimed before.
_STATUS_EVERY = 0.1
# Composed messages waiting for the workers: two per connection and a few
# more, so that a transaction (a millisecond or two) never starves them. The
# workers wake the dispatcher only when half of them are used up.
READY_EXTRA = 2
# Outcomes recorded (and claims made) per transaction, at most: enough to
# make the database's share small, few enough to keep the window small.
BATCH = 8
# What has already happened (outcomes of sent messages, the pause itself) is
# worth waiting for much longer than sending more: this many times
# ``database_wait_seconds``.
RECORD_PATIENCE = 10


def claim_cap(window: int, connections: int) -> int:
    """Claimed and not yet recorded, at most, besides the claims of stalled connections.

    Never more than ``window`` per connection, and no more than a batch
    beyond one message in flight per connection and a full ready queue.
    """
    return min(window * connections, 3 * connections + READY_EXTRA + BATCH)


@dataclass
class Progress:
    """What a progress display needs; ``waiting`` explains a pause in sending."""

    campaign_id: int
    total: int
    done: int
    counts: dict[str, int]
    waiting: str | None = None
    wait_seconds: float | None = None


class Dispatcher:
    """One run's loop: claim ahead, feed the connections, record what they did, wait.

    Its own state is the claims. Pacing is :class:`~newsletter.campaigns.pace.Pace`, outcomes
    waiting for their transaction :class:`~newsletter.campaigns.recording.Outcomes`, what the
    threads hold :class:`~newsletter.campaigns.connections.Connections`. The rule over them
    all (:meth:`check`): every claim not yet recorded is waiting to be composed, held by the
    connections, or an outcome not yet recorded; at most ``cap`` of them beyond the claims of
    stalled connections; and at most one per open connection has begun its body.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        campaign: Campaign,
        transport: Transport,
        wait_for_retries: bool,
        on_progress: Callable[[Progress], None] | None,
        *,
        ledger: Callable[..., Ledger] = Ledger,
        composer: Composer | None = None,
        limiter: Pacer | None = None,
    ):
        """``ledger``, ``composer`` and ``limiter`` let a worker send one batch of the
        campaign (``newsletter.workers``): a ledger confined to it, a composer it
        keeps between batches, and the rate limit all workers share."""
        assert campaign.id is not None
        self.cid = campaign.id
        self.compose = composer or Composer(db, settings, campaign)
        self.ledger = ledger(db, campaign, settings.delivery, self.compose.message_id)
        self.ledger.on_wait = self._locked
        self.transport = transport
        self.wait_for_retries = wait_for_retries
        self.on_progress = on_progress
        self.stop = threading.Event()  # the campaign pauses: stop sending
        self.closing = threading.Event()  # the run ends, for whatever reason
        self.error: str | None = None
        self.finished = False
        self.started = time.monotonic()
        d = settings.delivery
        self.pace = Pace(d, self.ledger.recent_starts, limiter)
        self.outcomes = Outcomes(self.ledger.counts())
        self.lanes, transports = for_run(settings, self.ledger, campaign, transport)
        slots = sum(t.connections for t in transports.values())
        # Rate-limited sending is slow by definition: claim only as it sends.
        window = 1 if self.pace.limited else d.claim_window
        self.ready_depth = 2 * slots + READY_EXTRA
        self.cap = claim_cap(window, slots)
        # claims worth a transaction: what is left once every connection has a
        # message in flight and the ready queue is full
        self.batch = max(1, self.cap - slots - self.ready_depth)
        # connections wake the dispatcher when their ready queue runs below this many
        # messages beyond one per connection
        self.lines = Routes(
            transports,
            stop=self.stop,
            closing=self.closing,
            extra=READY_EXTRA // 2,
            batch=self.batch,
        )
        self.claimed: deque[Job] = deque()  # claimed, not yet handed to a worker
        self.outstanding = 0  # claimed and not yet recorded
        self.exhausted = False  # nothing left to claim until outcomes change that
        self.last_report = 0.0
        self.last_waiting: str | None = None
        self.last_status_check = time.monotonic()
        self.last_heartbeat = time.monotonic()
        self.heartbeat_every = d.lease_seconds / HEARTBEATS_PER_LEASE
        self.locked_out = False
        # claims on stalled connections (Connections.watch), until recorded: they do not count
        # against the claim window, so the other connections and the spares have work
        self.stalled: set[int] = set()
        # claims whose body's mark is committed, until their outcome is: what a crash now
        # would leave ``unknown``, at most one per connection (see the module's docstring)
        self.begun: set[int] = set()

    def check(self) -> None:
        """The dispatcher's rule: every claim not yet recorded is in exactly one place.

        claimed and not recorded (``outstanding``) = waiting to be composed (``claimed``)
        + held by the connections (ready, in flight, or its outcome not yet taken back:
        ``lines.held``) + outcomes taken back, to record (``done``) + outcomes a locked
        database kept us from recording (``unrecorded``); and never more than ``cap`` beyond
        the claims on stalled connections (``stalled``). Begun and not recorded
        (``begun``, the crash bound): at most one per connection open at once (``lines.most``,
        the pool and its spares). Checked after every transaction and at the end of the run.
        """
        held = self.lines.held
        done, unrecorded = len(self.outcomes.done), len(self.outcomes.unrecorded)
        assert held >= 0, (self.lines.handed, self.lines.returned)
        assert self.outstanding == len(self.claimed) + held + done + unrecorded, (
            self.outstanding,
            len(self.claimed),
            held,
            done,
            unrecorded,
        )
        assert self.outstanding <= self.cap + len(self.stalled), (
            self.outstanding,
            self.cap,
            len(self.stalled),
        )
        assert len(self.begun) <= self.lines.most, (len(self.begun), self.lines.most)
        self.lanes.check(held)

    def shutdown(self) -> None:
        """Stop the workers; record what they did and return what they did not send."""
        self.closing.set()
        self.lines.refuse_marks()
        self._unclaim()
        self.lines.end()
        self._drain(block=False)
        self.check()
        late = self.outcomes.take_all()
        try:
            if late:
                patience = self.ledger.wait * RECORD_PATIENCE
                self._apply(self.ledger.step(late, 0, wait=patience))
                self._settled(late, frozenset())
        except DatabaseLocked as exc:
            self.error = (
                f"{self.error or exc}; the outcome of {len(late)} claimed message(s) could "
                "not be recorded: the resume queues them again, or marks them unknown if "
                "their body had begun"
            )
        finally:
            self.ledger.close()

    def _unclaim(self) -> None:
        """Claimed messages no worker has started: they were not sent."""
        unsent = list(self.claimed)
        self.claimed.clear()
        unsent += self.lines.take_unsent()
        self._received([(job, NOT_SENT) for job in unsent])

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        try:
            self.lines.start()
        except TransportUnavailable as exc:
            self.error = str(exc)
            self.stop.set()
            return
        while True:
            self._drain(block=False)
            self._check_external_stop()
            if self.error:
                self.stop.set()
            if self.stop.is_set():
                self._unclaim()
            self.stalled.update(job.id for job in self.lines.watch())
            self._hand_out()  # first: a worker that just finished may be waiting
            try:
                self._maybe_step()
            except DatabaseLocked as exc:
                # pause: what was sent is recorded at shutdown, waiting longer
                self.locked_out = True
                self.error = self.error or f"{exc}; sending stopped"
                self.stop.set()
                continue
            rate_wait = self._hand_out()
            if self.in_pipeline or self.outcomes.done:
                self._report("rate limit" if rate_wait > 0 else None, rate_wait or None)
                self._drain(block=True, timeout=self._timeout(rate_wait))
                continue
            if self.stop.is_set():
                return
            next_retry = self.ledger.next_retry()
            if next_retry is None or not self.wait_for_retries:
                self.finished = True
                self._report(None, force=True)
                return
            self._wait("retry", max(0.0, next_retry - time.time()))
            self.exhausted = False

    @property
    def counts(self) -> dict[str, int]:
        """Deliveries per status, as recorded."""
        return self.outcomes.counts

    @property
    def attempted(self) -> int:
        return self.outcomes.attempted

    @property
    def in_pipeline(self) -> int:
        """Claimed messages without an outcome yet: waiting, ready or in flight."""
        return self.outstanding - len(self.outcomes)

    def _timeout(self, rate_wait: float) -> float:
        """How long to wait for a result: until the oldest one must be recorded, at most."""
        timeout = min(_POLL, rate_wait or _POLL)
        due_in = self.outcomes.due_in()
        if due_in is not None:
            timeout = min(timeout, due_in)
        timeout = min(timeout, max(0.0, self.last_status_check + _STATUS_EVERY - time.monotonic()))
        return max(timeout, 0.0005)

    def _maybe_step(self) -> None:
        """One transaction when it is worth one: enough room to claim, or outcomes waiting."""
        if self.locked_out or self.stop.is_set():
            self.lines.refuse_marks()  # a paused run begins no more bodies
        if self.locked_out:
            self.outcomes.keep(self.outcomes.take())
            return
        # the marks first, then the outcomes: see the module's docstring
        marks = self.lines.take_marks()
        if marks:
            self._drain(block=False)
        done = self.outcomes.done
        room = self.cap - self.outstanding + len(done)
        if self.stalled:  # a stalled claim recorded now frees its room once, as any other
            room += len(self.stalled.difference(job.id for job, _ in done))
        want = 0 if self.stop.is_set() or self.exhausted else room
        due = self.outcomes.due(self.stop.is_set())
        claiming = want >= self.batch or (want and self.in_pipeline == 0)
        if not (claiming or due or marks):
            return
        if marks and not claiming:
            want = 0  # a mark is due every message: claims still go in batches
        finished = self.outcomes.take()
        begin = [m.job.id for m in marks]
        # recorded by this step: their destinations have room again for its claims
        self.lanes.recorded(job.address for job, _ in finished)
        try:
            recorded = self.ledger.step(finished, want, begin=begin)
        except BaseException as exc:
            self.lanes.claim(job.address for job, _ in finished)
            for m in marks:
                m.answer(False)
            if isinstance(exc, DatabaseLocked):
                self.outcomes.keep(finished)  # recorded at shutdown, waiting longer
            raise
        for m in marks:
            m.answer(m.job.id in recorded.marked)
        self.outstanding -= len(finished)
        self._settled(finished, recorded.marked)
        self._apply(recorded)
        self.claimed.extend(recorded.claimed)
        self.outstanding += len(recorded.claimed)
        self.lanes.claim(job.address for job in recorded.claimed)
        held = self.ledger.held_back and self.outstanding  # a busy destination's, till it is done
        if want and not recorded.claimed and (not self.ledger.pending or held):
            # until outcomes (deferrals, a busy destination's messages done) or a retry
            # wait change that
            self.exhausted = True
        self.check()
        if recorded.missed:
            # cancelled, paused or taken over since we fetched: find out now
            self.last_status_check = 0.0
            self._check_external_stop()

    def _hand_out(self) -> float:
        """Compose claimed messages into the ready queues, one per connection; any rate wait."""
        while self.claimed and not self.stop.is_set():
            if self.lines.marks:
                return 0.0  # a connection waits for its mark: that comes first
            now = time.time()
            # a line with room first: a shared pacer's delay reserves a start (workers/pacing)
            i, name, route, lane_wait = self.lanes.pick(
                self.claimed, lambda route: self.lines.room(route, READY_EXTRA), now
            )
            if i is None:
                return lane_wait
            rate_wait = self.pace.take()
            if rate_wait > 0:
                return rate_wait
            job = self.claimed[i]
            del self.claimed[i]
            self.compose(job)
            self.lanes.handed(job.id, name, now)
            self.lines.put(job, route)
        return 0.0

    def _settled(self, finished: list[Result], marked: frozenset[int]) -> None:
        """Committed: ``marked`` began, ``finished`` have their outcome."""
        self.begun |= marked
        done = {job.id for job, _ in finished}
        self.begun -= done
        self.stalled -= done

    def _apply(self, recorded: Recorded) -> None:
        self.outcomes.move(recorded.moves)
        if recorded.error:
            self.error = self.error or recorded.error

    def _drain(self, *, block: bool, timeout: float = _POLL) -> None:
        if block:
            self.lines.wake.wait(timeout)
        self._received(self.lines.take_results())

    def _received(self, results: list[Result]) -> None:
        for job, _ in results:
            self.lanes.returned(job.id)
        if self.outcomes.received(results):
            self.exhausted = False  # a deferral may make more claimable

    def _wait(self, why: str, seconds: float) -> None:
        """Sleep up to ``seconds``, saying so, but wake for Ctrl-C or a pause."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.stop.is_set():
            self._report(why, left)
            self.stop.wait(min(left, 0.5))
            self._check_external_stop()

    def _locked(self, waited: float) -> None:
        self._report("database locked", waited)

    def _check_external_stop(self) -> None:
        """Notice ``campaigns pause`` / ``cancel`` / a take-over; keep the lease alive."""
        now = time.monotonic()
        if self.locked_out or now - self.last_status_check < _STATUS_EVERY:
            return
        self.last_status_check = now
        try:
            if now - self.last_heartbeat >= self.heartbeat_every:
                self.last_heartbeat = now
                if not self.ledger.heartbeat():
                    self.stop.set()
            if not self.ledger.still_ours():
                self.stop.set()
        except DatabaseLocked as exc:
            self.locked_out = True
            self.error = self.error or f"{exc}; sending stopped"
            self.stop.set()

    def _report(
        self, waiting: str | None, seconds: float | None = None, force: bool = False
    ) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        # throttled, except when what we are waiting for changes
        if not force and waiting == self.last_waiting and now - self.last_report < 0.1:
            return
        self.last_report, self.last_waiting = now, waiting
        c, total = self.outcomes.counts, self.outcomes.total
        open_ = c.get("queued", 0) + c.get("sending", 0)
        if self.wait_for_retries:
            open_ += c.get("deferred", 0)
        self.on_progress(Progress(self.cid, total, total - open_, dict(c), waiting, seconds))
