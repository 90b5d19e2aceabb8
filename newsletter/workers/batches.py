"""A campaign cut into batches for workers: enqueue them, take one, settle it, finish the campaign.

``enqueue`` plans the batches (ranges of the campaign's delivery ids, in id
order), marks the campaign sending by workers and defers one job per batch,
all in the caller's transaction. A run ``take``\\ s its batch under a fresh
sender lease, exactly as a sender process takes a whole campaign
(:mod:`newsletter.campaigns.runs`): deliveries a dead run of the same batch
left ``sending`` go back to ``queued`` if their body never began, else
become ``unknown`` and are not sent again. ``settle`` lets go of
the batch when the run ends and defers the follow-up job if the batch still
has work (retries due later, or messages a stopping worker gave back); the
last batch to settle finishes the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter import clock
from newsletter.campaigns import leases, runs, statements, store, waves
from newsletter.campaigns.statements import C, D
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.workers import jobs
from newsletter.workers.tables import CampaignBatch

B = CampaignBatch.__table__  # type: ignore[attr-defined]
OPEN = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value, DeliveryStatus.DEFERRED.value)


@dataclass(frozen=True)
class Enqueued:
    campaign_id: int
    batches: int
    deliveries: int
    queue: str


@dataclass(frozen=True)
class Taken:
    """A batch held by this run: the campaign, the batch's id range and the run's lease."""

    campaign: Campaign
    number: int
    first_id: int
    last_id: int
    lease_id: int
    unknown: int  # deliveries whose body a dead run had begun, now unknown
    requeued: int = 0  # deliveries a dead run had claimed but not begun, queued again


def plan(connection: sa.Connection, campaign_id: int, size: int) -> list[tuple[int, int, int]]:
    """``(first id, last id, deliveries)`` of each batch of ``size`` deliveries, in id order."""
    numbered = (
        sa.select(
            D.c.id,
            ((sa.func.row_number().over(order_by=D.c.id) - 1) // size).label("k"),
        )
        .where(D.c.campaign_id == campaign_id)
        .subquery()
    )
    rows = connection.execute(
        sa.select(sa.func.min(numbered.c.id), sa.func.max(numbered.c.id), sa.func.count())
        .group_by(numbered.c.k)
        .order_by(numbered.c.k)
    )
    return [(first, last, n) for first, last, n in rows]


def enqueue(
    session: Session,
    campaign_id: int,
    *,
    queue: str,
    size: int,
    transport: str,
    resume: bool = False,
) -> Enqueued:
    """Hand the campaign to the workers: batches planned, jobs deferred, campaign sending.

    One transaction (the session's): a crash leaves either a draft or a
    campaign with all its jobs. ``resume`` hands a paused campaign back,
    deferring a job for each batch that is not done.
    """
    connection = session.connection()
    jobs.require_postgresql(connection, "sending by workers")
    campaign = store.get_campaign(session, campaign_id)
    if resume:
        if campaign.status != CampaignStatus.PAUSED or campaign.queue is None:
            raise store.CampaignBusy(
                f"campaign {campaign_id} is {campaign.status}, not paused by workers; "
                f"resume it with: newsletter campaigns resume {campaign_id}"
            )
        numbers = list(
            connection.execute(
                sa.select(B.c.number)
                .where(B.c.campaign_id == campaign_id, B.c.done_at.is_(None))
                .order_by(B.c.number)
            ).scalars()
        )
        expected = CampaignStatus.PAUSED.value
        deliveries = store.status_counts(session, campaign_id)
        count = sum(deliveries.get(s, 0) for s in OPEN)
    else:
        if campaign.kind != "campaign":
            raise store.CampaignError(f"campaign {campaign_id} is a proof; proofs are not queued")
        runs.check(session, campaign_id, resume=False)
        planned = plan(connection, campaign_id, size)
        if planned:
            connection.execute(
                sa.insert(B),
                [
                    {
                        "campaign_id": campaign_id,
                        "number": k,
                        "first_id": first,
                        "last_id": last,
                        "size": n,
                        "runs": 0,
                    }
                    for k, (first, last, n) in enumerate(planned, 1)
                ],
            )
        numbers = list(range(1, len(planned) + 1))
        expected = CampaignStatus.DRAFT.value
        count = sum(n for _, _, n in planned)
    now = datetime.now(UTC)
    taken = connection.execute(
        sa.update(C)
        .where(C.c.id == campaign_id, C.c.status == expected, C.c.lease_id.is_(None))
        .values(
            status=CampaignStatus.SENDING.value,
            queue=queue[:64],
            transport=transport[:200],
            started_at=sa.func.coalesce(C.c.started_at, now),
            finished_at=None,
        )
    )
    if taken.rowcount != 1:
        raise store.CampaignBusy(f"campaign {campaign_id} was taken by another process")
    jobs.defer(
        connection,
        jobs.SEND_BATCH,
        [{"campaign_id": campaign_id, "batch": k} for k in numbers],
        queue=queue,
        locks=[jobs.batch_lock(campaign_id, k) for k in numbers],
    )
    finish_if_done(connection, campaign_id)
    return Enqueued(campaign_id, len(numbers), count, queue)


def take(session: Session, campaign_id: int, number: int, lease_seconds: float) -> Taken | None:
    """This run's hold on batch ``number``; None when there is nothing for it to send.

    Nothing to send: the batch is done, or the campaign is no longer sending
    by workers (paused, cancelled, taken over by a sender process).
    """
    connection = session.connection()
    batch = connection.execute(
        sa.select(B).where(B.c.campaign_id == campaign_id, B.c.number == number).with_for_update()
    ).first()
    campaign = session.get(Campaign, campaign_id)
    if batch is None or campaign is None or batch.done_at is not None:
        return None
    if not _by_workers(campaign):
        return None
    lease = leases.new_lease(session, campaign_id, lease_seconds)
    assert lease.id is not None
    moved = connection.execute(
        sa.update(B)
        .where(B.c.id == batch.id, B.c.lease_id.is_not_distinct_from(batch.lease_id))
        .values(lease_id=lease.id, runs=B.c.runs + 1)
    )
    if moved.rowcount != 1:
        return None
    if batch.lease_id is not None:
        leases.end(session, batch.lease_id)
    now = datetime.now(UTC)
    in_batch = sa.and_(
        D.c.campaign_id == campaign_id, D.c.id.between(batch.first_id, batch.last_id)
    )
    requeued, lost = statements.recover(connection, in_batch, lease.id, now)
    waves.mark_started(connection, campaign_id)
    session.expunge(campaign)
    campaign.lease_id = lease.id  # the ledger's lease (a detached copy: not written back)
    return Taken(campaign, number, batch.first_id, batch.last_id, lease.id, lost, requeued)


def _by_workers(campaign: Campaign) -> bool:
    return (
        campaign.status == CampaignStatus.SENDING
        and campaign.queue is not None
        and campaign.lease_id is None
    )


def settle(session: Session, taken: Taken, *, retry_in: float | None = None) -> str:
    """Let go of the batch; defer its next run if it has work left. Says what happened.

    ``retry_in`` (seconds) delays the next run of messages given back by a
    run that could not reach the relay.
    """
    connection = session.connection()
    cid = taken.campaign.id
    assert cid is not None
    leases.end(session, taken.lease_id)
    in_batch = sa.and_(D.c.campaign_id == cid, D.c.id.between(taken.first_id, taken.last_id))
    left = dict(  # type: ignore[var-annotated]
        connection.execute(
            sa.select(D.c.status, sa.func.count())
            .where(in_batch, D.c.status.in_(OPEN))
            .group_by(D.c.status)
        ).all()
    )
    campaign = session.get(Campaign, cid)
    assert campaign is not None
    session.refresh(campaign)
    if campaign.status == CampaignStatus.CANCELLED:
        store.cancel_open_deliveries(session, cid)
        left = {}
    now = datetime.now(UTC)
    outcome = "done"
    if not left:
        connection.execute(
            sa.update(B)
            .where(B.c.campaign_id == cid, B.c.number == taken.number)
            .values(done_at=now)
        )
    elif _by_workers(campaign) and campaign.queue is not None:
        at: datetime | None = None
        in_flight = left.get(DeliveryStatus.SENDING)
        next_wave = None if in_flight else _next_wave(connection, in_batch)
        if next_wave is not None:
            # all it has left waits for a later wave (and maybe retries): run again then
            outcome = "waiting for its next wave"
            retries = connection.execute(
                sa.select(sa.func.min(D.c.next_attempt_at)).where(
                    in_batch, D.c.status == DeliveryStatus.DEFERRED.value
                )
            ).scalar()
            at = min(next_wave, retries) if retries is not None else next_wave
        elif left.get(DeliveryStatus.QUEUED) or left.get(DeliveryStatus.SENDING):
            outcome = "given back"
            if retry_in:
                at = now + timedelta(seconds=retry_in)
        else:
            outcome = "waiting for retries"
            at = connection.execute(
                sa.select(sa.func.min(D.c.next_attempt_at)).where(
                    in_batch, D.c.status == DeliveryStatus.DEFERRED.value
                )
            ).scalar()
        jobs.defer(
            connection,
            jobs.SEND_BATCH,
            [{"campaign_id": cid, "batch": taken.number}],
            queue=campaign.queue,
            locks=[jobs.batch_lock(cid, taken.number)],
            at=at,
        )
    else:
        outcome = f"left for later (the campaign is {campaign.status})"
    finish_if_done(connection, cid)
    return outcome


def _next_wave(connection: sa.Connection, in_batch: sa.ColumnElement[bool]) -> datetime | None:
    """When the batch's queued deliveries are next due, on the system clock, if none is due
    now (they wait for a later wave); else None."""
    waits = sa.and_(in_batch, D.c.status == DeliveryStatus.QUEUED.value)
    now = clock.now()
    due_now = connection.execute(
        sa.select(
            sa.exists().where(
                waits, sa.or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= now)
            )
        )
    ).scalar()
    if due_now:
        return None
    later = connection.execute(sa.select(sa.func.min(D.c.next_attempt_at)).where(waits)).scalar()
    return clock.to_system(later) if later is not None else None


def finish_if_done(connection: sa.Connection, campaign_id: int) -> bool:
    """Mark a campaign sent by workers finished once no delivery of it is open."""
    still_open = sa.exists().where(D.c.campaign_id == campaign_id, D.c.status.in_(OPEN))
    done = connection.execute(
        sa.update(C)
        .where(
            C.c.id == campaign_id,
            C.c.status == CampaignStatus.SENDING.value,
            C.c.lease_id.is_(None),
            C.c.queue.is_not(None),
            ~still_open,
        )
        .values(status=CampaignStatus.FINISHED.value, finished_at=datetime.now(UTC))
    )
    return done.rowcount == 1


def progress(connection: sa.Connection, campaign_id: int) -> tuple[int, int]:
    """``(done, all)`` batches of a campaign sent by workers."""
    done, total = connection.execute(
        sa.select(sa.func.count(B.c.done_at), sa.func.count()).where(B.c.campaign_id == campaign_id)
    ).one()
    return done, total
