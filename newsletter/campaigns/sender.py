"""Send a campaign: compose, claim, deliver, record — crash-safe and rate-limited.

The entry points the CLI and the Python API call. :func:`run_campaign` takes
the campaign (:mod:`~newsletter.campaigns.runs`), lets the dispatcher
(:mod:`~newsletter.campaigns.dispatch`) send it, and releases it whatever
happened; :func:`dry_run_campaign` composes every message and sends none.
:class:`Progress` is defined with the dispatcher but is part of this API
(``on_progress`` receives it), so callers import it from here.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from newsletter.campaigns import runs, store
from newsletter.campaigns.composer import Composer
from newsletter.campaigns.dispatch import RECORD_PATIENCE, Dispatcher, Progress
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.tables import Campaign, DeliveryStatus
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.locks import DatabaseLocked, retry_locked
from newsletter.errors import OperationFailed
from newsletter.transports import Transport


@dataclass
class RunResult:
    campaign_id: int
    state: str
    counts: dict[str, int]
    attempted: int = 0
    stopped: bool = False
    # A signal (Ctrl-C, SIGTERM) asked this process to stop, as opposed to a pause or a
    # takeover from another process: a worker ends only on the former.
    interrupted: bool = False
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
    Raises ``OperationFailed``, after pausing, when the transport is down or
    the database stays locked; a proof instead ends ``failed``, with the
    reason in its delivery's reply.
    """
    wait = settings.delivery.database_wait_seconds

    def take() -> Campaign:
        with db.session() as s:
            campaign = runs.take(
                s,
                campaign_id,
                resume=resume,
                force=force,
                transport=transport.describe(),
                lease_seconds=settings.delivery.lease_seconds,
            )
            if resend_unknown:
                runs.requeue_unknown(s, campaign_id)
            return campaign

    campaign = retry_locked(take, limit=wait)
    assert campaign.lease_id is not None
    lease = campaign.lease_id
    proof = campaign.kind == "proof"
    try:
        runner = Dispatcher(db, settings, campaign, transport, wait_for_retries, on_progress)
    except BaseException:
        _release(db, campaign_id, lease, wait, paused=True, finished=False, failed=proof)
        raise
    interrupted = threading.Event()
    try:
        with _graceful_interrupt(runner.stop, interrupted):
            runner.run()
    finally:
        runner.shutdown()
        failed = proof and not runner.counts.get(DeliveryStatus.SENT)
        try:
            state = _release(
                db,
                campaign_id,
                lease,
                wait,
                paused=runner.stop.is_set(),
                finished=runner.finished,
                failed=failed,
                reason=runner.error,
            )
        except DatabaseLocked as exc:
            # Nothing more can be written: the campaign stays as this run left it, and the
            # resume sorts its claims out (queued again, or unknown if their body began).
            raise OperationFailed(
                f"{exc}; campaign {campaign_id} is left interrupted: once the database is "
                f"back, resume with: newsletter campaigns resume {campaign_id}"
            ) from exc
    if runner.error and not proof:
        raise OperationFailed(
            f"{runner.error}; campaign {campaign_id} is paused, "
            f"resume with: newsletter campaigns resume {campaign_id}"
        )
    return RunResult(
        campaign_id,
        state,
        {k: v for k, v in runner.counts.items() if v},
        attempted=runner.attempted,
        stopped=runner.stop.is_set() and not failed,
        interrupted=interrupted.is_set(),
        elapsed=time.monotonic() - runner.started,
    )


def _release(db: Database, campaign_id: int, lease: int, wait: float, **how: Any) -> str:
    """Let go of the campaign, however long a lock by another process lasts (up to a limit)."""
    return retry_locked(
        lambda: runs.release(db, campaign_id, lease, **how), limit=wait * RECORD_PATIENCE
    )


@contextmanager
def _graceful_interrupt(stop: threading.Event, interrupted: threading.Event) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM) sets both events; a second one interrupts for real."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        stop.set()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


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
