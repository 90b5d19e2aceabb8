"""The sending loop of one run: one dispatcher thread, one worker per connection.

The dispatcher (the calling thread) owns the database and the composing; one
worker thread per transport connection does the network I/O. A delivery is
claimed (committed as ``sending``) only when a worker is free to send it, so
after a crash at most one message per connection has an unknown outcome;
``runs.take`` marks those ``unknown`` and nobody gets the issue twice.

While workers send, the dispatcher composes the next messages, so a worker
that finishes waits only for one transaction (its outcome plus the next
claim) before it gets more work.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsletter.campaigns import store
from newsletter.campaigns.composer import Composer
from newsletter.campaigns.leases import HEARTBEATS_PER_LEASE
from newsletter.campaigns.ledger import Job, Ledger, Recorded
from newsletter.campaigns.tables import Campaign
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.locks import DatabaseLocked
from newsletter.ratelimit import RateLimiter
from newsletter.transports import Outcome, Transport, TransportUnavailable

_POLL = 0.2  # seconds between checks for Ctrl-C and `campaigns pause`
_COALESCE = 0.0005  # seconds to wait for more finished messages before a transaction
# What has already happened (outcomes of sent messages, the pause itself) is
# worth waiting for much longer than sending more: this many times
# ``database_wait_seconds``.
RECORD_PATIENCE = 10

Result = tuple[Job, Outcome | BaseException]


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
    """One run's loop: feed the workers, record what they did, wait when it must."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        campaign: Campaign,
        transport: Transport,
        wait_for_retries: bool,
        on_progress: Callable[[Progress], None] | None,
    ):
        assert campaign.id is not None
        self.cid = campaign.id
        self.ledger = Ledger(db, campaign, settings.delivery)
        self.ledger.on_wait = self._locked
        self.compose = Composer(db, settings, campaign)
        self.transport = transport
        self.wait_for_retries = wait_for_retries
        self.on_progress = on_progress
        self.stop = threading.Event()
        self.error: str | None = None
        self.finished = False
        self.attempted = 0
        self.started = time.monotonic()
        d = settings.delivery
        rates = (d.rate_per_second, d.rate_per_minute, d.rate_per_hour)
        self.limiter = RateLimiter(*rates)
        if self.limiter.limited:  # limits hold across runs: seed from the log
            for start in self.ledger.recent_starts(self.limiter.depth):
                self.limiter.record(start)
        with db.session() as s:
            self.counts = store.status_counts(s, self.cid)
        self.total = sum(self.counts.values())
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.results: queue.Queue[Result] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.in_flight: set[int] = set()
        self.pending: deque[Job] = deque()
        self.last_report = 0.0
        self.last_waiting: str | None = None
        self.last_status_check = time.monotonic()
        self.last_heartbeat = time.monotonic()
        self.heartbeat_every = d.lease_seconds / HEARTBEATS_PER_LEASE
        self.unrecorded: list[Result] = []  # outcomes a locked database kept us from recording
        self.locked_out = False

    # -- workers -------------------------------------------------------------

    def _start_workers(self) -> None:
        for n in range(self.transport.connections):
            channel = self.transport.open_channel()
            t = threading.Thread(target=self._work, args=(channel,), name=f"send-{n}", daemon=True)
            t.start()
            self.threads.append(t)

    def _work(self, channel: Any) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                try:
                    outcome: Outcome | BaseException = channel.send(job.sender, job.rcpt, job.data)
                except BaseException as exc:  # the dispatcher decides what it means
                    outcome = exc
                self.results.put((job, outcome))
        finally:
            channel.close()

    def shutdown(self) -> None:
        """Stop the workers, recording the outcomes of messages still in flight."""
        for _ in self.threads:
            self.jobs.put(None)
        deadline = time.monotonic() + float(getattr(self.transport, "timeout", 5.0)) * 3 + 1
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        late = self.unrecorded + self._drain(block=False)
        try:
            if late:
                patience = self.ledger.wait * RECORD_PATIENCE
                self._apply(self.ledger.step(late, [], wait=patience))
        except DatabaseLocked as exc:
            self.error = (
                f"{self.error or exc}; the outcome of {len(late)} sent message(s) could "
                "not be recorded, they will show as unknown"
            )
        finally:
            self.ledger.close()

    def _locked(self, waited: float) -> None:
        self._report("database locked", waited)

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        try:
            self._start_workers()
        except TransportUnavailable as exc:
            self.error = str(exc)
            self.stop.set()
            return
        slots = self.transport.connections
        finished: list[Result] = []
        while True:
            finished += self._drain(block=False)
            self._check_external_stop()
            rate_wait = 0.0
            try:
                claims, rate_wait = self._next_claims(slots)
                if self.locked_out:
                    self.unrecorded += finished
                elif finished or claims:
                    self._step(finished, claims)
            except DatabaseLocked as exc:
                # pause: what was sent is recorded at shutdown, waiting longer
                self.locked_out = True
                self.unrecorded += finished
                self.error = self.error or f"{exc}; sending stopped"
            finished = []
            if self.error:
                self.stop.set()
            if self.in_flight:
                self._prepare(slots)
                self._report("rate limit" if rate_wait > 0 else None, rate_wait or None)
                finished = self._drain(block=True, timeout=min(_POLL, rate_wait or _POLL))
                continue
            if self.stop.is_set():
                return
            if rate_wait > 0:
                self._wait("rate limit", rate_wait)
            elif not self.pending:
                next_retry = self.ledger.next_retry()
                if next_retry is None or not self.wait_for_retries:
                    self.finished = True
                    self._report(None, force=True)
                    return
                self._wait("retry", max(0.0, next_retry - time.time()))

    def _next_claims(self, slots: int) -> tuple[list[Job], float]:
        """The composed jobs to claim for the free connections, and any rate-limit wait."""
        claims: list[Job] = []
        now = time.time()
        while not self.stop.is_set() and len(self.in_flight) + len(claims) < slots:
            if not self.pending:
                if claims:
                    break  # refill after the claims commit, or it sees them again
                self._refill()
                if not self.pending:
                    break
            rate_wait = self.limiter.delay(now)
            if rate_wait > 0:
                return claims, rate_wait
            self.limiter.record(now)
            job = self.pending.popleft()
            if not job.data:
                self.compose(job)
            claims.append(job)
        return claims, 0.0

    def _step(self, finished: list[Result], claims: list[Job]) -> None:
        """Record outcomes and claim, then hand the claimed jobs to the workers."""
        try:
            recorded = self.ledger.step(finished, claims)
        except DatabaseLocked:
            self.pending.extendleft(reversed(claims))  # not claimed: still queued
            raise
        self._apply(recorded)
        for job in recorded.claimed:
            self.in_flight.add(job.id)
            self.jobs.put(job)
        self.attempted += len(recorded.claimed)
        if len(recorded.claimed) < len(claims):
            # cancelled, paused or taken over since we fetched: find out now
            self.last_status_check = 0.0
            self._check_external_stop()

    def _prepare(self, slots: int) -> None:
        """Compose the next few messages while the workers are busy."""
        for job in list(self.pending)[:slots]:
            if not job.data:
                self.compose(job)

    def _refill(self) -> None:
        jobs, moves = self.ledger.fetch(self.in_flight)
        self.pending.extend(jobs)
        self._move(moves)

    def _apply(self, recorded: Recorded) -> None:
        self._move(recorded.moves)
        if recorded.error:
            self.error = self.error or recorded.error

    def _move(self, moves: list[tuple[str, str]]) -> None:
        for old, new in moves:
            self.counts[old] = self.counts.get(old, 0) - 1
            self.counts[new] = self.counts.get(new, 0) + 1

    def _drain(self, *, block: bool, timeout: float = _POLL) -> list[Result]:
        out = []
        try:
            if block:
                out.append(self.results.get(timeout=timeout))
                # With several connections, gather the results that arrive within
                # a moment: one transaction for several messages costs little more
                # than for one, and the workers are busy meanwhile.
                deadline = time.monotonic() + _COALESCE
                while len(out) < len(self.in_flight) and (left := deadline - time.monotonic()) > 0:
                    out.append(self.results.get(timeout=left))
            while True:
                out.append(self.results.get_nowait())
        except queue.Empty:
            pass
        for job, _ in out:
            self.in_flight.discard(job.id)
        return out

    def _wait(self, why: str, seconds: float) -> None:
        """Sleep up to ``seconds``, saying so, but wake for Ctrl-C or a pause."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.stop.is_set():
            self._report(why, left)
            self.stop.wait(min(left, 0.5))
            self._check_external_stop()

    def _check_external_stop(self) -> None:
        """Notice ``campaigns pause`` / ``cancel`` / a take-over, once a second; keep the lease."""
        now = time.monotonic()
        if self.locked_out or now - self.last_status_check < 1.0:
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
        c = self.counts
        open_ = c.get("queued", 0) + c.get("sending", 0)
        if self.wait_for_retries:
            open_ += c.get("deferred", 0)
        done = self.total - open_
        self.on_progress(Progress(self.cid, self.total, done, dict(c), waiting, seconds))
