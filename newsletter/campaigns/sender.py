"""Send a campaign: claim, compose, deliver, record — crash-safe, in committed steps.

One dispatcher (the calling thread) owns the database and the composing; one
worker thread per transport connection does the network I/O. Each delivery
moves ``queued → sending → sent | deferred | failed | bounced``, and the
``sending`` claim is committed *before* its bytes leave, so after a crash the
rows still ``sending`` are exactly the messages that may or may not have
arrived: at most one per connection. ``resume`` marks them ``unknown`` and
sends them again only when asked to, so nobody gets the issue twice.

Claims are made only for idle workers, which keeps that bound; the outcome of
one message and the claim of the next share a transaction, so a message costs
one commit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns import store
from newsletter.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from newsletter.compose import MailingListInfo, MessageTemplate, Recipient, sender_domain
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.errors import BadInput, OperationFailed
from newsletter.models import Reason, Subscriber, Subscription, Suppression
from newsletter.ratelimit import RateLimiter
from newsletter.signing import signer_from_settings
from newsletter.tokens import bounce_token, token_key, unsubscribe_token
from newsletter.transports import BOUNCED, DEFERRED, Outcome, Transport, TransportUnavailable

_PAGE = 500
_POLL = 0.2  # seconds between checks for Ctrl-C and `campaigns pause`
_UNKNOWN_REPLY = (
    "outcome unknown: the sender stopped while this message was in flight; "
    "not sent again unless resumed with --resend-unknown"
)
_T = Delivery.__table__  # type: ignore[attr-defined]


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
    error: str | None = None
    elapsed: float = 0.0


@dataclass
class _Job:
    id: int
    address: str
    name: str | None
    subscriber_id: int | None
    attempts: int
    status: str
    sender: str = ""
    data: bytes = b""


@dataclass
class _Snapshot:
    subject: str
    html: str
    text: str


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
    Ctrl-C stops at once (those become ``unknown``). Raises
    ``OperationFailed`` when the transport is unreachable, after pausing.
    """
    with db.session() as s:
        campaign = _take(s, campaign_id, resume=resume, force=force, transport=transport)
        if resend_unknown:
            s.execute(
                sa.update(_T)
                .where(_T.c.campaign_id == campaign_id, _T.c.status == DeliveryStatus.UNKNOWN)
                .values(status=DeliveryStatus.QUEUED.value)
            )
    try:
        runner = _Runner(db, settings, campaign, transport, wait_for_retries, on_progress)
    except BaseException:
        _abandon(db, campaign_id)
        raise
    try:
        with _graceful_interrupt(runner.stop):
            runner.run()
    finally:
        runner.shutdown()
        state = runner.release()
    result = RunResult(
        campaign_id,
        state,
        runner.counts_snapshot(),
        attempted=runner.attempted,
        stopped=runner.stop.is_set(),
        error=runner.error,
        elapsed=time.monotonic() - runner.started,
    )
    if runner.error:
        raise OperationFailed(
            f"{runner.error}; campaign {campaign_id} is paused, "
            f"resume with: newsletter campaigns resume {campaign_id}"
        )
    return result


def _abandon(db: Database, campaign_id: int) -> None:
    """Undo ``_take`` when the run could not even start (bad DKIM key, outbox…)."""
    ct = Campaign.__table__  # type: ignore[attr-defined]
    with db.session() as s:
        s.execute(
            sa.update(ct)
            .where(ct.c.id == campaign_id, ct.c.runner_pid == os.getpid())
            .values(status=CampaignStatus.PAUSED.value, runner_pid=None, runner_host=None)
        )


def _take(
    session: Any, campaign_id: int, *, resume: bool, force: bool, transport: Transport
) -> Campaign:
    """Mark the campaign as ours (compare-and-swap), recovering from a crashed run."""
    campaign = store.get_campaign(session, campaign_id)
    status = campaign.status
    if status == CampaignStatus.CANCELLED:
        raise store.CampaignError(f"campaign {campaign_id} is cancelled")
    if status == CampaignStatus.SENDING:
        alive = store.runner_alive(campaign)
        if alive or (alive is None and not force):
            where = f"process {campaign.runner_pid} on {campaign.runner_host}"
            raise store.CampaignError(f"campaign {campaign_id} is being sent by {where}")
        if not resume:
            raise store.CampaignError(
                f"campaign {campaign_id} was interrupted; continue with: "
                f"newsletter campaigns resume {campaign_id}"
            )
    elif status == CampaignStatus.DRAFT and resume:
        raise store.CampaignError(f"campaign {campaign_id} was never started; use campaigns send")
    elif status != CampaignStatus.DRAFT and not resume:
        raise store.CampaignError(
            f"campaign {campaign_id} is {status}; continue with: "
            f"newsletter campaigns resume {campaign_id}"
        )
    ct = Campaign.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    taken = session.execute(
        sa.update(ct)
        .where(ct.c.id == campaign_id, ct.c.status == status)
        .where(
            ct.c.runner_pid.is_(None)
            if campaign.runner_pid is None
            else ct.c.runner_pid == campaign.runner_pid
        )
        .values(
            status=CampaignStatus.SENDING.value,
            runner_pid=os.getpid(),
            runner_host=socket.gethostname(),
            transport=transport.describe()[:200],
            started_at=sa.func.coalesce(ct.c.started_at, now),
            finished_at=None,
        )
    )
    if taken.rowcount != 1:
        raise store.CampaignError(f"campaign {campaign_id} was taken by another process")
    session.execute(
        sa.update(_T)
        .where(_T.c.campaign_id == campaign_id, _T.c.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.UNKNOWN.value, smtp_reply=_UNKNOWN_REPLY, finished_at=now)
    )
    session.refresh(campaign)
    return campaign


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
        self.db = db
        self.settings = settings
        self.campaign = campaign
        self.cid = campaign.id
        self.transport = transport
        self.wait_for_retries = wait_for_retries
        self.on_progress = on_progress
        self.stop = threading.Event()
        self.error: str | None = None
        self.attempted = 0
        self.started = time.monotonic()
        self.key = token_key(db.secret)
        self.domain = sender_domain(settings)
        self.template = MessageTemplate.build(
            _Snapshot(campaign.subject, campaign.html, campaign.text),
            settings,
            MailingListInfo(campaign.list_slug, campaign.list_name),
            language=campaign.language,
            sign=signer_from_settings(settings),
        )
        d = settings.delivery
        self.limiter = RateLimiter(d.rate_per_second, d.rate_per_minute, d.rate_per_hour)
        if self.limiter.limited:
            self.limiter = RateLimiter(
                d.rate_per_second, d.rate_per_minute, d.rate_per_hour, self._recent_starts()
            )
        with db.session() as s:
            self.counts = store.status_counts(s, self.cid)
        self.total = sum(self.counts.values())
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.results: queue.Queue[tuple[_Job, Outcome | BaseException]] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.in_flight = 0
        self.in_flight_ids: set[int] = set()
        self.pending: deque[_Job] = deque()
        self.last_report = 0.0
        self.last_status_check = time.monotonic()
        self.external_stop: str | None = None

    # -- setup and teardown --------------------------------------------------

    def _recent_starts(self) -> list[float]:
        since = datetime.now(UTC) - timedelta(hours=1)
        with self.db.session() as s:
            rows = s.execute(sa.select(_T.c.claimed_at).where(_T.c.claimed_at >= since)).scalars()
            return [r.timestamp() for r in rows if r is not None]

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
                    outcome: Outcome | BaseException = channel.send(
                        job.sender, job.address, job.data
                    )
                except BaseException as exc:  # reported to the dispatcher, which decides
                    outcome = exc
                self.results.put((job, outcome))
        finally:
            channel.close()

    def shutdown(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join(timeout=self._grace())
        # results that arrived after the loop ended are still worth recording
        late = self._drain(block=False)
        if late:
            with self.db.session() as s:
                self._record(s, late)

    def _grace(self) -> float:
        return float(getattr(self.transport, "timeout", 5.0)) * 3 + 1

    def release(self) -> str:
        """Give the campaign up: paused if stopped early, else finished."""
        ct = Campaign.__table__  # type: ignore[attr-defined]
        with self.db.session() as s:
            c = store.get_campaign(s, self.cid)
            s.refresh(c)
            counts = store.status_counts(s, self.cid)
            if c.runner_pid == os.getpid():
                values: dict[str, Any] = {"runner_pid": None, "runner_host": None}
                if c.status == CampaignStatus.SENDING:
                    open_ = counts.get("queued", 0) + counts.get("sending", 0)
                    unfinished = open_ or (self.wait_for_retries and counts.get("deferred", 0))
                    if self.stop.is_set() or unfinished:
                        values["status"] = CampaignStatus.PAUSED.value
                    else:
                        values["status"] = CampaignStatus.FINISHED.value
                        values["finished_at"] = datetime.now(UTC)
                s.execute(sa.update(ct).where(ct.c.id == self.cid).values(**values))
                s.refresh(c)
            self.counts = counts
            return store.describe_state(c, counts)

    def counts_snapshot(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v}

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        self._start_workers()
        slots = self.transport.connections
        carry: list[tuple[_Job, Outcome | BaseException]] = []
        while True:
            finished = carry + self._drain(block=False)
            self._check_external_stop()
            claims: list[_Job] = []
            rate_wait = 0.0
            now = time.time()
            while not self.stop.is_set() and self.in_flight + len(claims) < slots:
                if not self.pending:
                    if claims:
                        break  # refill only after the claims are committed, or it sees them again
                    self._refill()
                    if not self.pending:
                        break
                rate_wait = self.limiter.delay(now)
                if rate_wait > 0:
                    break
                self.limiter.record(now)
                claims.append(self.pending.popleft())
            if finished or claims:
                with self.db.session() as s:
                    self._record(s, finished)
                    self._claim(s, claims)
                for job in claims:
                    self.in_flight_ids.add(job.id)
                    self.jobs.put(job)
                    self.in_flight += 1
                    self.attempted += 1
            if self.error:
                self.stop.set()
            if self.in_flight:
                self._report("rate limit" if rate_wait > 0 else None, rate_wait or None)
                carry = self._drain(block=True, timeout=min(_POLL, rate_wait or _POLL))
                continue
            carry = []
            if self.stop.is_set():
                return
            if rate_wait > 0:
                self._wait("rate limit", rate_wait)
                continue
            if self.pending:
                continue
            next_retry = self._next_retry()
            if next_retry is None or not self.wait_for_retries:
                self._report(None, force=True)
                return
            self._wait("retry", max(0.0, next_retry - time.time()))

    def _drain(
        self, *, block: bool, timeout: float = _POLL
    ) -> list[tuple[_Job, Outcome | BaseException]]:
        out = []
        try:
            if block:
                out.append(self.results.get(timeout=timeout))
            while True:
                out.append(self.results.get_nowait())
        except queue.Empty:
            pass
        return out

    def _wait(self, why: str, seconds: float) -> None:
        """Sleep up to ``seconds``, saying so, but wake for Ctrl-C or a pause."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.stop.is_set():
            self._report(why, left)
            self.stop.wait(min(left, _POLL * 2.5))
            self._check_external_stop()

    def _check_external_stop(self) -> None:
        """Notice ``campaigns pause`` / ``cancel`` from another process, once a second."""
        now = time.monotonic()
        if now - self.last_status_check < 1.0:
            return
        self.last_status_check = now
        ct = Campaign.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            status = conn.execute(sa.select(ct.c.status).where(ct.c.id == self.cid)).scalar()
        if status != CampaignStatus.SENDING:
            self.external_stop = status
            self.stop.set()

    def _report(
        self, waiting: str | None, seconds: float | None = None, force: bool = False
    ) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not force and waiting is None and now - self.last_report < 0.1:
            return
        self.last_report = now
        c = self.counts
        open_ = c.get("queued", 0) + c.get("sending", 0)
        if self.wait_for_retries:
            open_ += c.get("deferred", 0)
        self.on_progress(
            Progress(self.cid, self.total, self.total - open_, dict(c), waiting, seconds)
        )

    # -- database steps ------------------------------------------------------

    def _refill(self) -> None:
        """Load the next page: due retries first, then queued; skip the no-longer-eligible."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            rows = self._eligible(s, DeliveryStatus.DEFERRED, now)
            if len(rows) < _PAGE:
                rows += self._eligible(s, DeliveryStatus.QUEUED, None)
            skipped = [r for r in rows if not r.eligible]
            if skipped:
                s.execute(
                    sa.update(_T)
                    .where(_T.c.id == sa.bindparam("b_id"))
                    .values(
                        status=DeliveryStatus.SKIPPED.value,
                        smtp_reply="not sent: unsubscribed, suppressed or removed since the "
                        "campaign was created",
                        finished_at=now,
                        next_attempt_at=None,
                    ),
                    [{"b_id": r.id} for r in skipped],
                )
                for r in skipped:
                    self._move(r.status, DeliveryStatus.SKIPPED)
        self.pending.extend(
            _Job(r.id, r.address, r.name, r.subscriber_id, r.attempts, r.status)
            for r in rows
            if r.eligible and r.id not in self.in_flight_ids
        )

    def _eligible(self, s: Any, status: str, due: datetime | None) -> list[Any]:
        sub = Subscriber.__table__  # type: ignore[attr-defined]
        ssn = Subscription.__table__  # type: ignore[attr-defined]
        sup = Suppression.__table__  # type: ignore[attr-defined]
        if self.campaign.kind == "proof":
            eligible: Any = _T.c.address.isnot(None)
        else:
            eligible = sa.and_(
                _T.c.address.isnot(None),
                ssn.c.status == "confirmed",
                ~sa.exists().where(sup.c.key_hash == sub.c.key_hash),
            )
        q = (
            sa.select(
                _T.c.id,
                _T.c.address,
                _T.c.name,
                _T.c.subscriber_id,
                _T.c.attempts,
                _T.c.status,
                sa.case((eligible, True), else_=False).label("eligible"),
            )
            .select_from(_T)
            .outerjoin(sub, sub.c.id == _T.c.subscriber_id)
            .outerjoin(
                ssn,
                sa.and_(
                    ssn.c.subscriber_id == _T.c.subscriber_id,
                    ssn.c.list_id == self.campaign.list_id,
                ),
            )
            .where(_T.c.campaign_id == self.cid, _T.c.status == status)
            .order_by(_T.c.id)
            .limit(_PAGE)
        )
        if due is not None:
            q = q.where(_T.c.next_attempt_at <= due)
        return list(s.execute(q).all())

    def _claim(self, s: Any, jobs: list[_Job]) -> None:
        """Mark ``jobs`` as in flight and compose their messages (committed before sending)."""
        if not jobs:
            return
        now = datetime.now(UTC)
        params = []
        verp = self.settings.delivery.verp
        bounce_domain = self.settings.delivery.bounce_domain or self.domain
        sender = self.settings.organisation.sender_email
        list_id = self.campaign.list_id or 0
        for job in jobs:
            job.attempts += 1
            message_id = f"{self.campaign.uid}.{job.id}@{self.domain}"
            token = unsubscribe_token(self.key, job.subscriber_id or 0, list_id)
            job.sender = (
                f"bounces+{bounce_token(self.key, job.id)}@{bounce_domain}" if verp else sender
            )
            job.data = self.template.compose(Recipient(job.address, job.name, token, message_id))
            params.append({"b_id": job.id, "b_mid": message_id})
            self._move(job.status, DeliveryStatus.SENDING)
        s.execute(
            sa.update(_T)
            .where(_T.c.id == sa.bindparam("b_id"))
            .values(
                status=DeliveryStatus.SENDING.value,
                attempts=_T.c.attempts + 1,
                claimed_at=now,
                message_id=sa.bindparam("b_mid"),
            ),
            params,
        )

    def _record(self, s: Any, finished: list[tuple[_Job, Outcome | BaseException]]) -> None:
        """Write outcomes; defer with exponential backoff; suppress bounced addresses."""
        if not finished:
            return
        from newsletter.subscribers.suppressions import suppress

        now = datetime.now(UTC)
        d = self.settings.delivery
        final, deferred, requeue, unknown = [], [], [], []
        for job, outcome in finished:
            self.in_flight -= 1
            self.in_flight_ids.discard(job.id)
            if isinstance(outcome, TransportUnavailable):
                self.error = self.error or str(outcome)
                requeue.append({"b_id": job.id})
                self._move(DeliveryStatus.SENDING, DeliveryStatus.QUEUED)
                continue
            if isinstance(outcome, BaseException):
                self.error = self.error or f"internal error: {outcome!r}"
                unknown.append({"b_id": job.id, "b_reply": f"{_UNKNOWN_REPLY} ({outcome!r})"})
                self._move(DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
                continue
            if outcome.status == DEFERRED and job.attempts < d.max_attempts:
                delay = d.retry_base_seconds * 2 ** (job.attempts - 1)
                line = f"{now:%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n"
                deferred.append(
                    {
                        "b_id": job.id,
                        "b_code": outcome.code,
                        "b_reply": outcome.reply,
                        "b_next": now + timedelta(seconds=delay),
                        "b_line": line,
                    }
                )
                self._move(DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
                continue
            status = outcome.status if outcome.status != DEFERRED else DeliveryStatus.FAILED
            final.append(
                {
                    "b_id": job.id,
                    "b_status": status,
                    "b_code": outcome.code,
                    "b_reply": outcome.reply,
                    "b_queue": outcome.queue_id,
                }
            )
            self._move(DeliveryStatus.SENDING, status)
            if outcome.status == BOUNCED:
                # an address the subscriber code cannot parse cannot be suppressed
                with contextlib.suppress(BadInput):
                    suppress(
                        s,
                        job.address,
                        Reason.BOUNCED,
                        detail=outcome.reply[:500],
                        source=f"campaign:{self.cid}",
                        actor="sender",
                    )
        by_id = _T.c.id == sa.bindparam("b_id")
        if final:
            s.execute(
                sa.update(_T)
                .where(by_id)
                .values(
                    status=sa.bindparam("b_status"),
                    smtp_code=sa.bindparam("b_code"),
                    smtp_reply=sa.bindparam("b_reply"),
                    queue_id=sa.bindparam("b_queue"),
                    finished_at=now,
                    next_attempt_at=None,
                ),
                final,
            )
        if deferred:
            s.execute(
                sa.update(_T)
                .where(by_id)
                .values(
                    status=DeliveryStatus.DEFERRED.value,
                    smtp_code=sa.bindparam("b_code"),
                    smtp_reply=sa.bindparam("b_reply"),
                    next_attempt_at=sa.bindparam("b_next"),
                    history=sa.func.coalesce(_T.c.history, "") + sa.bindparam("b_line"),
                ),
                deferred,
            )
        if requeue:
            s.execute(
                sa.update(_T)
                .where(by_id)
                .values(
                    status=DeliveryStatus.QUEUED.value,
                    attempts=_T.c.attempts - 1,
                    claimed_at=None,
                ),
                requeue,
            )
        if unknown:
            s.execute(
                sa.update(_T)
                .where(by_id)
                .values(
                    status=DeliveryStatus.UNKNOWN.value,
                    smtp_reply=sa.bindparam("b_reply"),
                    finished_at=now,
                ),
                unknown,
            )

    def _move(self, old: str, new: str) -> None:
        self.counts[old] = self.counts.get(old, 0) - 1
        self.counts[new] = self.counts.get(new, 0) + 1

    def _next_retry(self) -> float | None:
        with self.db.session() as s:
            when = s.execute(
                sa.select(sa.func.min(_T.c.next_attempt_at)).where(
                    _T.c.campaign_id == self.cid, _T.c.status == DeliveryStatus.DEFERRED
                )
            ).scalar()
        if when is None:
            return None
        if isinstance(when, str):  # SQLite returns min() of a DateTime column as text
            when = datetime.fromisoformat(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
