"""A sending run's hold on a campaign: take it at the start, release it at the end.

Taking is a compare-and-swap on the campaign row, so two senders can never
run one campaign; it is also where a crashed run is recovered. The per-message
work of a run is in :mod:`newsletter.campaigns.ledger`.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns import store
from newsletter.campaigns.statements import UNKNOWN_REPLY, C, D
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.db import Database


def take(
    session: Session, campaign_id: int, *, resume: bool, force: bool, transport: str
) -> Campaign:
    """Mark the campaign as ours (compare-and-swap), recovering from a crashed run.

    Deliveries left ``sending`` by a dead run become ``unknown``: they may
    have reached the server, so they are not sent again by default.
    """
    campaign = store.get_campaign(session, campaign_id)
    status = campaign.status
    resume_hint = f"continue with: newsletter campaigns resume {campaign_id}"
    if status == CampaignStatus.CANCELLED:
        raise store.CampaignError(f"campaign {campaign_id} is cancelled")
    if status == CampaignStatus.SENDING:
        alive = store.runner_alive(campaign)
        if alive or (alive is None and not force):
            where = f"process {campaign.runner_pid} on {campaign.runner_host}"
            raise store.CampaignError(f"campaign {campaign_id} is being sent by {where}")
        if not resume:
            raise store.CampaignError(f"campaign {campaign_id} was interrupted; {resume_hint}")
    elif status == CampaignStatus.PAUSED and not force and store.runner_alive(campaign):
        # paused, but the sender is still finishing its messages in flight:
        # a second sender now would race it for the same deliveries. (If that
        # process died and its id was reused, the operator says so with --force.)
        raise store.CampaignError(
            f"campaign {campaign_id} is pausing: process {campaign.runner_pid} on "
            f"{campaign.runner_host} is finishing its messages in flight; try again shortly "
            "(or, if that process is gone, resume with --force)"
        )
    elif status == CampaignStatus.DRAFT and resume:
        raise store.CampaignError(
            f"campaign {campaign_id} was never started; start it with: "
            f"newsletter campaigns send {campaign_id}"
        )
    elif status != CampaignStatus.DRAFT and not resume:
        raise store.CampaignError(f"campaign {campaign_id} is {status}; {resume_hint}")
    now = datetime.now(UTC)
    same_runner = (
        C.c.runner_pid.is_(None)
        if campaign.runner_pid is None
        else C.c.runner_pid == campaign.runner_pid
    )
    taken = session.execute(
        sa.update(C)
        .where(C.c.id == campaign_id, C.c.status == status, same_runner)
        .values(
            status=CampaignStatus.SENDING.value,
            runner_pid=os.getpid(),
            runner_host=socket.gethostname(),
            transport=transport[:200],
            started_at=sa.func.coalesce(C.c.started_at, now),
            finished_at=None,
        )
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise store.CampaignError(f"campaign {campaign_id} was taken by another process")
    session.execute(
        sa.update(D)
        .where(D.c.campaign_id == campaign_id, D.c.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.UNKNOWN.value, smtp_reply=UNKNOWN_REPLY, finished_at=now)
    )
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


def release(db: Database, campaign_id: int, *, paused: bool, finished: bool) -> str:
    """Give the campaign up and describe its state; a no-op if someone else holds it."""
    with db.session() as s:
        c = store.get_campaign(s, campaign_id)
        s.refresh(c)
        if c.status == CampaignStatus.CANCELLED and c.runner_pid == os.getpid():
            store.cancel_open_deliveries(s, campaign_id)
        counts = store.status_counts(s, campaign_id)
        if c.runner_pid == os.getpid():
            values: dict[str, Any] = {"runner_pid": None, "runner_host": None}
            if c.status == CampaignStatus.SENDING:
                if finished and not paused:
                    values["status"] = CampaignStatus.FINISHED.value
                    values["finished_at"] = datetime.now(UTC)
                else:
                    values["status"] = CampaignStatus.PAUSED.value
            s.execute(sa.update(C).where(C.c.id == campaign_id).values(**values))
            s.refresh(c)
        return store.describe_state(c, counts)
