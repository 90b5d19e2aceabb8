"""Send one batch of a campaign: what a worker's job does.

The batch is sent by the sender process's own dispatcher
(:class:`newsletter.campaigns.dispatch.Dispatcher`) with three parts swapped
in: a ledger confined to the batch (:mod:`.ledger`), the composer the worker
keeps for the campaign, and the rate limit shared by every worker
(:mod:`.pacing`). The run does not wait for retries: a batch whose deferred
messages are due later is settled, and its next job is deferred to then.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from newsletter.campaigns.composer import Composer
from newsletter.campaigns.dispatch import RECORD_PATIENCE, Dispatcher
from newsletter.campaigns.tables import Campaign
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.locks import retry_locked
from newsletter.transports import Transport
from newsletter.workers import batches
from newsletter.workers.ledger import BatchLedger
from newsletter.workers.pacing import RelaySlots, SharedRate, buckets, relay_name

log = logging.getLogger("newsletter.worker")
_SLOT_POLL = 0.5  # seconds between looks for a free relay connection


@dataclass
class WorkerContext:
    """What one worker process shares between the batches it sends."""

    db: Database
    settings: Settings
    transport: Transport
    stopping: threading.Event = field(default_factory=threading.Event)
    running: set[Dispatcher] = field(default_factory=set)
    composers: dict[int, Composer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: RelaySlots | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.relay = self.transport.describe().split(" (")[0]
        host, port = getattr(self.transport, "host", None), getattr(self.transport, "port", None)
        if host is not None and port is not None:
            self.relay = relay_name(host, port)
        self.limits = buckets(
            s.delivery.rate_per_second, s.delivery.rate_per_minute, s.delivery.rate_per_hour
        )
        self.slots = RelaySlots(self.db.engine, self.relay, s.smtp.max_connections)

    def composer(self, campaign: Campaign) -> Composer:
        """One composer per campaign for the worker's life: its templates are built once."""
        assert campaign.id is not None
        with self.lock:
            found = self.composers.get(campaign.id)
            if found is None:
                if len(self.composers) >= 4:  # a worker sends few campaigns at a time
                    self.composers.pop(next(iter(self.composers)))
                found = self.composers[campaign.id] = Composer(self.db, self.settings, campaign)
            return found

    def stop(self) -> None:
        """Every batch stops after its messages in flight; the rest goes back to the queue."""
        self.stopping.set()
        with self.lock:
            for runner in self.running:
                runner.stop.set()

    def close(self) -> None:
        if self.slots is not None:
            self.slots.close()


def send_batch(ctx: WorkerContext, campaign_id: int, number: int) -> str:
    """Send batch ``number`` of the campaign; one line on how it went, for the worker's log."""
    db, settings = ctx.db, ctx.settings
    wait = settings.delivery.database_wait_seconds

    def take() -> batches.Taken | None:
        with db.session() as s:
            return batches.take(s, campaign_id, number, settings.delivery.lease_seconds)

    taken = retry_locked(take, limit=wait)
    if taken is None:
        return f"campaign {campaign_id} batch {number}: nothing to send"
    slots = _connection_slots(ctx, ctx.transport.connections)
    error: str | None = None
    runner: Dispatcher | None = None
    pacer = SharedRate(db.engine, ctx.relay, ctx.limits)
    try:
        if slots:
            # the relay's connections counted in slots (max_connections): no spares beyond
            spare = ctx.slots is None or not ctx.slots.limited
            transport = _with_connections(ctx.transport, len(slots), spare=spare)
            runner = Dispatcher(
                db,
                settings,
                taken.campaign,
                transport,
                False,
                None,
                ledger=partial(BatchLedger, first_id=taken.first_id, last_id=taken.last_id),
                composer=ctx.composer(taken.campaign),
                limiter=pacer if pacer.limited else None,
            )
            with ctx.lock:
                ctx.running.add(runner)
            if ctx.stopping.is_set():
                runner.stop.set()
            try:
                runner.run()
            finally:
                runner.shutdown()
                with ctx.lock:
                    ctx.running.discard(runner)
            error = runner.error
    finally:
        pacer.close()
        if ctx.slots is not None:
            ctx.slots.release(slots)
        retry_in = settings.delivery.retry_base_seconds if error else None

        def settle() -> str:
            with db.session() as s:
                return batches.settle(s, taken, retry_in=retry_in)

        outcome = retry_locked(settle, limit=wait * RECORD_PATIENCE)
    sent = runner.counts.get("sent", 0) if runner else 0
    lost = f", {taken.unknown} left unknown by a dead run" if taken.unknown else ""
    if taken.requeued:
        lost += f", {taken.requeued} claimed but not begun by a dead run, queued again"
    why = f" ({error})" if error else ""
    return f"campaign {campaign_id} batch {number}: {outcome}{why}; {sent} sent{lost}"


def _connection_slots(ctx: WorkerContext, want: int) -> list[int]:
    """Relay connections for this batch: as many as free up to ``want``; waits for one."""
    assert ctx.slots is not None
    while True:
        got = ctx.slots.acquire(want)
        if got or ctx.stopping.is_set():
            return got
        time.sleep(_SLOT_POLL)


def _with_connections(transport: Transport, n: int, *, spare: bool) -> Transport:
    """``transport`` with ``n`` connections, and without spare ones unless ``spare``."""
    changes: dict[str, Any] = {}
    if n != transport.connections:
        changes["connections"] = n
    if not spare and getattr(transport, "spare_connections", None):
        changes["spare_connections"] = 0
    if not changes or not dataclasses.is_dataclass(transport):
        return transport
    return dataclasses.replace(transport, **changes)
