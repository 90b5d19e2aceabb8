"""Sender leases: who holds a campaign, and whether that sender is still alive.

A sender takes a lease when it starts and renews it with a heartbeat while it
runs; the lease names its host and process id for people, and its expiry
decides for machines. A lease is *stale* when its expiry has passed (on any
host: the sender stopped renewing, whatever the reason) or, on the sender's
own host, when its process is gone (seen at once, without waiting for the
expiry). A stale lease can be taken over without ``--force``; a live one only
with it. Every claim of a delivery checks the lease is still the campaign's,
so a sender whose lease was taken over cannot claim anything more.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns.state import Holder, judge
from newsletter.campaigns.tables import Campaign, SenderLease

# A lease survives five missed renewals: a sender busy for a moment (a slow
# transaction, a locked database) is not declared dead.
HEARTBEATS_PER_LEASE = 6

L = SenderLease.__table__  # type: ignore[attr-defined]


def holder(session: Session, campaign: Campaign) -> Holder | None:
    """The lease holding ``campaign`` and whether it is stale; None when nobody holds it."""
    if campaign.lease_id is None:
        return None
    lease = session.get(SenderLease, campaign.lease_id)
    if lease is None or lease.released_at is not None:
        return None
    return judge(lease, datetime.now(UTC))


def new_lease(session: Session, campaign_id: int, seconds: float) -> SenderLease:
    """A lease for this process for ``seconds``, flushed so it has an id; not yet the campaign's."""
    now = datetime.now(UTC)
    lease = SenderLease(
        campaign_id=campaign_id,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        started_at=now,
        renewed_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
    session.add(lease)
    session.flush()
    return lease


def renew(conn: sa.Connection, lease_id: int, seconds: float) -> bool:
    """The heartbeat; False when the lease was released or taken over meanwhile."""
    now = datetime.now(UTC)
    result = conn.execute(
        sa.update(L)
        .where(L.c.id == lease_id, L.c.released_at.is_(None))
        .values(renewed_at=now, expires_at=now + timedelta(seconds=seconds))
    )
    return result.rowcount == 1


def end(session: Session, lease_id: int) -> None:
    """Mark a lease released: by its sender at the end, or by a sender taking over."""
    session.execute(
        sa.update(L)
        .where(L.c.id == lease_id, L.c.released_at.is_(None))
        .values(released_at=datetime.now(UTC))
    )
