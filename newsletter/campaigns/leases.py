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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns.tables import Campaign, SenderLease

# A lease survives five missed renewals: a sender busy for a moment (a slow
# transaction, a locked database) is not declared dead.
HEARTBEATS_PER_LEASE = 6

L = SenderLease.__table__  # type: ignore[attr-defined]


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


@dataclass(frozen=True)
class Holder:
    """A campaign's current lease, judged at one moment."""

    lease: SenderLease
    stale: bool
    now: datetime

    @property
    def who(self) -> str:
        return f"process {self.lease.pid} on {self.lease.host}"

    @property
    def renewed(self) -> str:
        """``"12 s ago"``: when the sender last showed it was alive."""
        return _ago((self.now - self.lease.renewed_at).total_seconds()) + " ago"

    @property
    def expires_in(self) -> str:
        return _ago((self.lease.expires_at - self.now).total_seconds())


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(session: Session, campaign: Campaign) -> Holder | None:
    """The lease holding ``campaign`` and whether it is stale; None when nobody holds it."""
    if campaign.lease_id is None:
        return None
    lease = session.get(SenderLease, campaign.lease_id)
    if lease is None or lease.released_at is not None:
        return None
    now = datetime.now(UTC)
    stale = lease.expires_at <= now
    if not stale and lease.host == socket.gethostname():
        stale = not process_alive(lease.pid)
    return Holder(lease, stale, now)


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
