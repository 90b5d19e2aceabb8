"""How a campaign is doing, judged from plain values: its sender's lease and one honest phrase.

No ORM here: ``campaigns show`` reads the campaign and its lease as table
rows (``report.py``) and judges them with the same functions the sender and
``campaigns list`` use through ``store`` and ``leases``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from newsletter.errors import BadInput


class CampaignError(BadInput):
    """A campaign does not exist, or what was asked can never work for it."""


class LeaseLike(Protocol):
    """A ``SenderLease`` as an ORM object or a table row."""

    host: str
    pid: int
    renewed_at: datetime
    expires_at: datetime


class CampaignLike(Protocol):
    id: int | None
    status: str


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

    lease: LeaseLike
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


def judge(lease: LeaseLike, now: datetime) -> Holder:
    """Whether ``lease`` is stale at ``now``: expired (any host) or its process gone (this host)."""
    stale = lease.expires_at <= now
    if not stale and lease.host == socket.gethostname():
        stale = not process_alive(lease.pid)
    return Holder(lease, stale, now)


def describe_state(
    campaign: CampaignLike,
    counts: Mapping[str, int],
    held: Holder | None,
    next_wave: datetime | None = None,
) -> str:
    """One honest phrase: never "finished" while a delivery lacks a final state.

    ``held`` is the campaign's lease (:func:`leases.holder`): a sending
    campaign whose sender stopped renewing it says so. ``next_wave``: when
    the next wave of a local-time schedule starts, if one is to come.
    """
    status = campaign.status
    open_ = {s: counts.get(s, 0) for s in ("deferred", "unknown", "queued", "sending")}
    resume = f"resume with: newsletter campaigns resume {campaign.id}"
    queue = getattr(campaign, "queue", None)  # sent by workers from this queue
    if status == "draft" and next_wave is not None:
        return f"scheduled at local times, first wave at {next_wave:%Y-%m-%d %H:%M} UTC"
    if status == "draft" and getattr(campaign, "scheduled_at", None) is not None:
        return "scheduled for " + schedule_phrase(
            campaign.scheduled_at,  # type: ignore[attr-defined]
            campaign.schedule_zone,  # type: ignore[attr-defined]
        )
    if status == "sending" and held is None and next_wave is not None:
        by = f" by workers (queue {queue})" if queue is not None else ""
        return f"sending{by}, next wave at {next_wave:%Y-%m-%d %H:%M} UTC"
    if status == "sending" and queue is not None and held is None:
        return f"sending by workers (queue {queue})"
    if status == "paused" and queue is not None:
        return f"paused (resume with: newsletter campaigns resume {campaign.id} --enqueue)"
    if status == "sending":
        if held is None:
            return f"interrupted ({resume})"
        if held.stale:
            gone = (
                "is gone"
                if held.lease.expires_at > held.now
                else f"stopped renewing its lease {held.renewed}"
            )
            return f"interrupted: its sender, {held.who}, {gone} ({resume})"
        if held.lease.host != socket.gethostname():
            return f"sending ({held.who}, lease renewed {held.renewed})"
        return "sending"
    if status == "paused" and held is not None and not held.stale:
        return f"pausing ({held.who} is finishing its messages in flight)"
    if status == "finished":
        pending = [f"{n} {s}" for s, n in open_.items() if n]
        return "finished with " + ", ".join(pending) if pending else "finished"
    return status


def schedule_phrase(when: datetime, zone: str | None) -> str:
    """``2026-12-07 09:00 CET (Europe/Berlin)``: a schedule as its editor gave it."""
    from zoneinfo import ZoneInfo  # only for a scheduled campaign

    try:
        local = when.astimezone(ZoneInfo(zone)) if zone else when
    except (ValueError, KeyError):  # a zone this machine does not know: say it in UTC
        local, zone = when, None
    shown = f"{local:%Y-%m-%d %H:%M}"
    if local.second:
        shown += f":{local:%S}"
    return f"{shown} {local:%Z} ({zone})" if zone and zone != "UTC" else f"{shown} UTC"


@dataclass(frozen=True)
class EditionTotals:
    """One language edition of a campaign: its subject and how many got it, by status."""

    language: str | None
    subject: str
    counts: dict[str, int]

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class CampaignSummary:
    id: int
    kind: str
    issue: str
    list: str
    subject: str
    state: str
    recipients: int
    counts: dict[str, int]
    transport: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # per language edition, the primary first (one entry for a one-language issue)
    editions: tuple[EditionTotals, ...] = field(default=())
    scheduled_at: datetime | None = None  # when it starts (or started) by itself
    schedule_zone: str | None = None
    queue: str | None = None  # the workers' queue, when workers send it
    segment_name: str | None = None  # the saved segment its recipients were chosen by
    segment_expression: str | None = None  # ... or the --where expression, at the snapshot

    def row(self) -> dict[str, object]:
        """A flat row for table, CSV and JSON listings."""
        return {
            "id": self.id,
            "kind": self.kind,
            "issue": self.issue,
            "list": self.list,
            "state": self.state,
            "recipients": self.recipients,
            "sent": self.counts.get("sent", 0),
            "editions": " ".join(e.language or "-" for e in self.editions),
            "created": self.created_at,
        }
