"""Send a campaign: compose, claim, deliver, record — crash-safe and rate-limited.

One dispatcher (the calling thread) owns the database and the composing; one
worker thread per transport connection does the network I/O. A delivery is
claimed (committed as ``sending``) only when a worker is free to send it, so
after a crash at most one message per connection has an unknown outcome;
``ledger.take`` marks those ``unknown`` and nobody gets the issue twice.

While workers send, the dispatcher composes the next messages, so a worker
that finishes waits only for one transaction (its outcome plus the next
claim) before it gets more work.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from newsletter.campaigns import ledger, store
from newsletter.campaigns.ledger import Job, Ledger
from newsletter.campaigns.models import Campaign
from newsletter.compose import (
    MailingListInfo,
    MessageTemplate,
    Recipient,
    envelope_address,
    sender_domain,
)
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.errors import OperationFailed
from newsletter.ratelimit import RateLimiter
from newsletter.signing import signer_from_settings
from newsletter.tokens import bounce_token, token_key, unsubscribe_token
from newsletter.transports import Outcome, Transport

_POLL = 0.2  # seconds between checks for Ctrl-C and `campaigns pause`
_COALESCE = 0.0005  # seconds to wait for more finished messages before a transaction

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


@dataclass
class RunResult:
    campaign_id: int
    state: str
    counts: dict[str, int]
    attempted: int = 0
    stopped: bool = False
    elapsed: float = 0.0


def run_campaign(
    db: Database,
    settings: Settings,
    campaign_id: int,
    transport: Transport,
    *,
    resume: bool = False,
    resend_unknown: bool = False,
    wait_for_retries: bool = True,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Deliver every queued (and due deferred) delivery of a campaign.

    ``resume`` continues a paused, interrupted or finished-with-deferred
    campaign. Ctrl-C pauses cleanly after the messages in flight; a second
    Ctrl-C stops at once (those become ``unknown``). Without
    ``wait_for_retries`` the run ends when only future retries are left.
    Raises ``OperationFailed``, after pausing, when the transport is down.
    """
    with db.session() as s:
        campaign = ledger.take(
            s, campaign_id, resume=resume, force=force, transport=transport.describe()
        )
        if resend_unknown:
            ledger.requeue_unknown(s, campaign_id)
    try:
        runner = _Runner(db, settings, campaign, transport, wait_for_retries, on_progress)
    except BaseException:
        ledger.release(db, campaign_id, paused=True, finished=False)
        raise
    try:
        with _graceful_interrupt(runner.stop):
            runner.run()
    finally:
        runner.shutdown()
        state = ledger.release(
            db, campaign_id, paused=runner.stop.is_set(), finished=runner.finished
        )
    if runner.error:
        raise OperationFailed(
            f"{runner.error}; campaign {campaign_id} is paused, "
            f"resume with: newsletter campaigns resume {campaign_id}"
        )
    return RunResult(
        campaign_id,
        state,
        {k: v for k, v in runner.counts.items() if v},
        attempted=runner.attempted,
        stopped=runner.stop.is_set(),
        elapsed=time.monotonic() - runner.started,
    )


@contextmanager
def _graceful_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM) sets ``stop``; a second one interrupts for real."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


@dataclass
class _Snapshot:
    subject: str
    html: str
    text: str


def message_template(settings: Settings, campaign: Campaign) -> MessageTemplate:
    """The campaign's snapshot as a template: rendered once per run."""
    return MessageTemplate.build(
        _Snapshot(campaign.subject, campaign.html, campaign.text),
        settings,
        MailingListInfo(campaign.list_slug, campaign.list_name),
        language=campaign.language,
        sign=signer_from_settings(settings),
    )


class Composer:
    """Per-recipient envelope, tokens and bytes for one campaign's template."""

    def __init__(self, db: Database, settings: Settings, campaign: Campaign):
        self.key = token_key(db.secret)
        self.domain = sender_domain(settings)
        self.uid = campaign.uid
        self.list_id = campaign.list_id or 0
        self.template = message_template(settings, campaign)
        d = settings.delivery
        self.verp_domain = (d.bounce_domain or self.domain) if d.verp else None
        self.sender = settings.organisation.sender_email

    def __call__(self, job: Job) -> None:
        # Deterministic per delivery, so a retry carries the same Message-ID
        # and a receiver can drop the duplicate of a message we had to retry.
        job.message_id = f"{self.uid}.{job.id}@{self.domain}"
        if self.verp_domain:
            job.sender = f"bounces+{bounce_token(self.key, job.id)}@{self.verp_domain}"
        else:
            job.sender = self.sender
        job.rcpt = envelope_address(job.address)
        token = unsubscribe_token(self.key, job.subscriber_id or 0, self.list_id)
        job.data = self.template.compose(Recipient(job.address, job.name, token, job.message_id))


class _Runner:
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
        late = self._drain(block=False)
        try:
            if late:
                self._apply(self.ledger.step(late, []))
        finally:
            self.ledger.close()

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        self._start_workers()
        slots = self.transport.connections
        finished: list[Result] = []
        while True:
            finished += self._drain(block=False)
            self._check_external_stop()
            claims: list[Job] = []
            rate_wait = 0.0
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
                    break
                self.limiter.record(now)
                job = self.pending.popleft()
                if not job.data:
                    self.compose(job)
                claims.append(job)
            if finished or claims:
                recorded = self.ledger.step(finished, claims)
                self._apply(recorded)
                finished = []
                for job in recorded.claimed:
                    self.in_flight.add(job.id)
                    self.jobs.put(job)
                self.attempted += len(recorded.claimed)
                if len(recorded.claimed) < len(claims):
                    # cancelled, paused or taken over since we fetched: find out now
                    self.last_status_check = 0.0
                    self._check_external_stop()
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

    def _prepare(self, slots: int) -> None:
        """Compose the next few messages while the workers are busy."""
        for job in list(self.pending)[:slots]:
            if not job.data:
                self.compose(job)

    def _refill(self) -> None:
        jobs, moves = self.ledger.fetch(self.in_flight)
        self.pending.extend(jobs)
        self._move(moves)

    def _apply(self, recorded: ledger.Recorded) -> None:
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
        """Notice ``campaigns pause`` / ``cancel`` from another process, once a second."""
        now = time.monotonic()
        if now - self.last_status_check < 1.0:
            return
        self.last_status_check = now
        if not self.ledger.still_ours():
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


@dataclass(frozen=True)
class DryRunReport:
    messages: int
    bytes: int
    seconds: float

    @property
    def per_message_us(self) -> float:
        return self.seconds / self.messages * 1e6 if self.messages else 0.0


def dry_run_campaign(db: Database, settings: Settings, campaign_id: int) -> DryRunReport:
    """Compose every message still to send, and send none; the log is untouched."""
    from newsletter.transports.dryrun import DryRunTransport

    with db.session() as s:
        campaign = store.get_campaign(s, campaign_id)
    compose = Composer(db, settings, campaign)
    sink = DryRunTransport()
    started = time.perf_counter()
    for job in Ledger(db, campaign, settings.delivery).iter_open():
        compose(job)
        sink.send(job.sender, job.rcpt, job.data)
    return DryRunReport(sink.messages, sink.bytes, time.perf_counter() - started)
