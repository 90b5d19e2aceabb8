"""A sending run's hold on a campaign: take it at the start, release it at the end.

Taking is a compare-and-swap on the campaign row that installs this run's
lease (:mod:`~newsletter.campaigns.leases`), so two senders can never run
one campaign; it is also where a crashed run is recovered. The per-message
work of a run is in :mod:`newsletter.campaigns.ledger`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns import leases, statements, store, totals, waves
from newsletter.campaigns.statements import C, D
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.db import Database


def check(session: Session, campaign_id: int, *, resume: bool, force: bool = False) -> Campaign:
    """The campaign, if a run may take it now; else the error ``take`` would raise.

    Lets a command refuse before it asks for confirmation.
    """
    campaign = store.get_campaign(session, campaign_id)
    _check_state(session, campaign, resume=resume, force=force)
    return campaign


def _check_state(session: Session, campaign: Campaign, *, resume: bool, force: bool) -> None:
    """Refuse a take the campaign's state or its live sender does not allow."""
    cid = campaign.id
    status = campaign.status
    if status == CampaignStatus.CANCELLED:
        raise store.CampaignError(f"campaign {cid} is cancelled")
    if status == CampaignStatus.DRAFT:
        if resume:
            raise store.CampaignBusy(
                f"campaign {cid} was never started; start it with: newsletter campaigns send {cid}"
            )
        return
    held = leases.holder(session, campaign)
    if held is not None and not held.stale and not force:
        if status == CampaignStatus.SENDING:
            raise store.CampaignBusy(
                f"campaign {cid} is being sent by {held.who} (lease renewed {held.renewed}). "
                f"If that sender is gone (a restarted container, a lost host), resume with "
                f"--force, or wait {held.expires_in} for its lease to expire"
            )
        # paused, but the sender is still finishing its messages in flight: a
        # second sender now would race it for the same deliveries
        raise store.CampaignBusy(
            f"campaign {cid} is pausing: {held.who} is finishing its messages in flight; "
            "try again shortly (or, if that process is gone, resume with --force)"
        )
    if not resume:
        what = "was interrupted" if status == CampaignStatus.SENDING else f"is {status}"
        raise store.CampaignBusy(
            f"campaign {cid} {what}; use resume: newsletter campaigns resume {cid}"
        )


def take(
    session: Session,
    campaign_id: int,
    *,
    resume: bool,
    force: bool,
    transport: str,
    lease_seconds: float,
) -> Campaign:
    """Make the campaign ours under a new lease, recovering from a crashed run.

    Deliveries left ``sending`` by the previous holder go back to ``queued`` when their
    body never began (the server cannot have them), else become ``unknown``: they may
    have reached the server, so they are not sent again by default.
    """
    campaign = check(session, campaign_id, resume=resume, force=force)
    previous = campaign.lease_id
    lease = leases.new_lease(session, campaign_id, lease_seconds)
    now = datetime.now(UTC)
    same_holder = C.c.lease_id.is_(None) if previous is None else C.c.lease_id == previous
    taken = session.execute(
        sa.update(C)
        .where(C.c.id == campaign_id, C.c.status == campaign.status, same_holder)
        .values(
            status=CampaignStatus.SENDING.value,
            lease_id=lease.id,
            transport=transport[:200],
            started_at=sa.func.coalesce(C.c.started_at, now),
            finished_at=None,
        )
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise store.CampaignBusy(f"campaign {campaign_id} was taken by another process")
    if previous is not None:
        leases.end(session, previous)
    assert lease.id is not None
    statements.recover(session.connection(), D.c.campaign_id == campaign_id, lease.id, now)
    waves.mark_started(session.connection(), campaign_id)
    session.refresh(campaign)
    return campaign


def requeue_unknown(session: Session, campaign_id: int) -> int:
    """``--resend-unknown``: the operator accepts that some may get it twice."""
    result = session.execute(
        sa.update(D)
        .where(D.c.campaign_id == campaign_id, D.c.status == DeliveryStatus.UNKNOWN)
        .values(status=DeliveryStatus.QUEUED.value, next_attempt_at=None)
    )
    return result.rowcount  # type: ignore[attr-defined]


def release(
    db: Database,
    campaign_id: int,
    lease_id: int,
    *,
    paused: bool,
    finished: bool,
    failed: bool = False,
    reason: str | None = None,
) -> str:
    """Give the campaign up and describe its state; only the lease's own campaign changes.

    ``failed`` ends a proof that could not be delivered as ``failed``
    rather than paused: a proof is a check, not something to resume. Its
    delivery, if it never got as far as an attempt, fails with ``reason``.
    """
    with db.session() as s:
        c = store.get_campaign(s, campaign_id)
        s.refresh(c)
        ours = c.lease_id == lease_id
        if ours and c.status == CampaignStatus.CANCELLED:
            store.cancel_open_deliveries(s, campaign_id)
        if ours:
            values: dict[str, Any] = {"lease_id": None}
            if c.status == CampaignStatus.SENDING:
                if failed:
                    values["status"] = CampaignStatus.FAILED.value
                    values["finished_at"] = datetime.now(UTC)
                    s.execute(
                        sa.update(D)
                        .where(D.c.campaign_id == campaign_id)
                        .where(D.c.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]))
                        .values(
                            status=DeliveryStatus.FAILED.value,
                            smtp_reply=f"not sent: {reason or 'the proof run stopped'}",
                            finished_at=values["finished_at"],
                        )
                    )
                elif finished and not paused and waves.waiting(s.connection(), campaign_id):
                    pass  # sending, between waves: a worker takes it up at the next one
                elif finished and not paused:
                    values["status"] = CampaignStatus.FINISHED.value
                    values["finished_at"] = datetime.now(UTC)
                else:
                    values["status"] = CampaignStatus.PAUSED.value
            s.execute(sa.update(C).where(C.c.id == campaign_id).values(**values))
        leases.end(s, lease_id)
        counts = store.status_counts(s, campaign_id)
        s.flush()
        s.refresh(c)
        next_wave = totals.next_wave_of(s.connection(), c)
        return store.describe_state(c, counts, leases.holder(s, c), next_wave)
