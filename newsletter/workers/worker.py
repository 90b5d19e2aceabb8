"""``newsletter worker``: one worker process, on PostgreSQL or on SQLite.

On PostgreSQL it is a procrastinate worker: it takes "send batch K of
campaign C" and "start campaign C" jobs from its queues, sends up to
``concurrency`` batches at once, renews its heartbeat, and every
``poll_seconds`` hands the jobs of workers whose heartbeat stopped back to
the queue, so a batch held by a worker that was killed or whose host was
lost is sent by another. On SQLite there is no job queue: the worker looks
for due scheduled campaigns, and for campaigns whose next wave of a
local-time schedule is due, every ``poll_seconds`` and sends each with the
sender process of ``campaigns send``, one at a time.

SIGTERM or Ctrl-C stops cleanly: each batch finishes its messages in
flight, gives the rest back to the queue, and the worker exits; a second
one exits at once (what was in flight then shows as ``unknown``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsletter.campaigns.dispatch import RECORD_PATIENCE
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.errors import OperationFailed
from newsletter.transports import Transport
from newsletter.workers import batches, housekeeping, jobs, schedule
from newsletter.workers.batchrun import WorkerContext, send_batch

log = logging.getLogger("newsletter.worker")


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int
    queues: tuple[str, ...] | None  # None: every queue
    poll_seconds: float
    stalled_seconds: float
    once: bool = False  # SQLite: start what is due now, then return (for tests and cron)


def options_from(
    settings: Settings, concurrency: int | None = None, queues: tuple[str, ...] = ()
) -> WorkerOptions:
    w = settings.workers
    return WorkerOptions(
        concurrency=concurrency or w.concurrency,
        queues=queues or None,
        poll_seconds=w.poll_seconds,
        stalled_seconds=w.stalled_seconds,
    )


def run(
    db: Database,
    settings: Settings,
    transport: Transport,
    options: WorkerOptions,
    on_event: Callable[[str], None] = log.info,
    send_notices: Callable[[], int] = lambda: 0,
) -> None:
    """Work until stopped (SIGTERM, Ctrl-C), with the daily reminder and expiry round.

    ``send_notices`` delivers the reminders that round queues (the web's
    outbox, which this floor must not import; the CLI passes it in).
    """
    if db.is_sqlite:
        _run_polling(db, settings, transport, options, on_event, send_notices)
    else:
        asyncio.run(_run_queue(db, settings, transport, options, on_event, send_notices))


# -- PostgreSQL: procrastinate -------------------------------------------------------------------


def _app(db: Database, ctx: WorkerContext, options: WorkerOptions, on_event: Any) -> Any:
    import procrastinate

    from newsletter.workers.connector import ReconnectingConnector

    connector = ReconnectingConnector(
        patience=ctx.settings.delivery.database_wait_seconds * RECORD_PATIENCE,
        on_event=on_event,
        conninfo=jobs.conninfo(db.url),
        min_size=1,
        max_size=options.concurrency + 3,  # the jobs' fetches, heartbeat, LISTEN, recovery
    )
    app = procrastinate.App(connector=connector)
    # A job that raised (the database gone for a moment, a bug) is tried again: the ledger
    # makes a second run of a batch safe, and a job left failed would stall its campaign.
    again = procrastinate.RetryStrategy(max_attempts=10, wait=30)

    @app.task(name=jobs.SEND_BATCH, retry=again)
    def send(campaign_id: int, batch: int) -> None:
        on_event(send_batch(ctx, campaign_id, batch))

    @app.task(name=jobs.START_CAMPAIGN, retry=again)
    def start(campaign_id: int, at: str) -> None:
        on_event(start_scheduled(ctx, campaign_id, at))

    return app


def start_scheduled(ctx: WorkerContext, campaign_id: int, at: str) -> str:
    """The start job of a schedule: hand the campaign to the workers, if still due."""
    w = ctx.settings.workers
    with ctx.db.session() as s:
        if schedule.still_due(s, campaign_id, at) is None:
            return f"campaign {campaign_id}: its schedule for {at} was changed; nothing started"
        done = batches.enqueue(
            s,
            campaign_id,
            queue=w.queue,
            size=w.batch_size,
            transport=ctx.transport.describe(),
        )
    return f"campaign {campaign_id}: started as scheduled, {done.batches} batches queued"


async def _run_queue(
    db: Database,
    settings: Settings,
    transport: Transport,
    options: WorkerOptions,
    on_event: Callable[[str], None],
    send_notices: Callable[[], int],
) -> None:
    ctx = WorkerContext(db, settings, transport)
    app = _app(db, ctx, options, on_event)
    stalled = options.stalled_seconds
    name = f"{socket.gethostname()}:{os.getpid()}"
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                name=name,
                queues=list(options.queues) if options.queues else None,
                concurrency=options.concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=stalled / 3,
                stalled_worker_timeout=stalled,
                fetch_job_polling_interval=options.poll_seconds,
                abort_job_polling_interval=options.poll_seconds,
            )
        )
        recovery = asyncio.create_task(_recover_stalled(app, options, on_event))
        rounds = asyncio.create_task(_daily_rounds(db, settings, options, send_notices, on_event))
        _on_signals(asyncio.get_running_loop(), ctx, worker)
        on_event(
            f"worker {name}: queues {', '.join(options.queues or ('(all)',))}, "
            f"{options.concurrency} batch(es) at once over {transport.describe()}"
        )
        try:
            await worker
        except asyncio.CancelledError:
            pass
        finally:
            recovery.cancel()
            rounds.cancel()
            ctx.close()
    on_event(f"worker {name}: stopped")


def _on_signals(loop: asyncio.AbstractEventLoop, ctx: WorkerContext, worker: asyncio.Task) -> None:
    def stop() -> None:
        if ctx.stopping.is_set():
            os._exit(1)  # a second signal: at once, as promised
        ctx.stop()
        worker.cancel()  # procrastinate waits for the running jobs, which now stop

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)


async def _recover_stalled(app: Any, options: WorkerOptions, on_event: Any) -> None:
    """Give the jobs of workers whose heartbeat stopped back to the queue."""
    from procrastinate import exceptions

    while True:
        await asyncio.sleep(options.poll_seconds)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=options.stalled_seconds
            )
            for job in stalled:
                try:
                    await app.job_manager.retry_job(job)
                except exceptions.ConnectorException:
                    continue  # another worker was quicker
                on_event(f"job {job.id} ({job.call_string}) of a dead worker: queued again")
        except exceptions.ConnectorException as exc:
            on_event(f"looking for dead workers failed: {exc}")


def daily_round(
    db: Database, settings: Settings, send: Callable[[], int], on_event: Callable[[str], None]
) -> None:
    """Reminders and expiry once a day (:mod:`newsletter.workers.housekeeping`); ``send``
    delivers the mails they queue (the CLI passes the outbox ``serve`` uses)."""

    def send_and_say() -> None:
        sent = send()
        if sent:
            on_event(f"daily round: {sent} subscription mail(s) handled")

    try:
        housekeeping.daily(db, settings, send_and_say, on_event)
    except Exception as exc:  # the next poll tries again; sending campaigns goes on
        log.exception("daily round failed")
        on_event(f"daily round failed: {exc}")


async def _daily_rounds(
    db: Database, settings: Settings, options: WorkerOptions, send: Any, on_event: Any
) -> None:
    while True:
        await asyncio.to_thread(daily_round, db, settings, send, on_event)
        await asyncio.sleep(options.poll_seconds)


# -- SQLite: polling for due schedules ------------------------------------------------------------


def _run_polling(
    db: Database,
    settings: Settings,
    transport: Transport,
    options: WorkerOptions,
    on_event: Callable[[str], None],
    send_notices: Callable[[], int],
) -> None:
    from newsletter.campaigns import sender

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    on_event(f"worker {os.getpid()}: starting scheduled campaigns over {transport.describe()}")
    try:
        while not stop.is_set():
            daily_round(db, settings, send_notices, on_event)
            with db.engine.connect() as connection:
                # scheduled drafts start; a campaign between waves resumes at its next one
                due = [(cid, False) for cid in schedule.due(connection)]
                due += [(cid, True) for cid in schedule.due_waves(connection)]
            for campaign_id, resume in due:
                try:  # while it sends, Ctrl-C and SIGTERM pause the campaign
                    result = sender.run_campaign(
                        db, settings, campaign_id, transport, resume=resume
                    )
                except OperationFailed as exc:  # taken by another worker, or the relay down
                    on_event(f"campaign {campaign_id}: {exc}")
                    continue
                on_event(f"campaign {campaign_id}: {result.state}")
                if result.interrupted:  # a pause from elsewhere ends that campaign, not the worker
                    stop.set()
                    break
            if options.once:
                break
            stop.wait(options.poll_seconds)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
