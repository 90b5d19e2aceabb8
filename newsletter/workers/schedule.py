"""Schedules: a draft campaign that starts by itself at a given time.

A schedule changes when a campaign starts, never whom it is for: the
recipients are the snapshot of ``campaigns create``, and anyone who
unsubscribes before their message leaves is skipped, as for any send. On
PostgreSQL the start is a procrastinate job deferred to that time, in the
transaction that sets the schedule (and cancelled in the one that clears
it); on SQLite ``newsletter worker`` looks for due campaigns
(:func:`due`). Either way the start checks that the campaign is still a
draft scheduled for that very time, so a schedule that was changed or
cleared meanwhile starts nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session

from newsletter import clock
from newsletter.campaigns import store, waves
from newsletter.campaigns.statements import C, D
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus
from newsletter.errors import BadInput
from newsletter.workers import jobs

_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


class ScheduleError(BadInput):
    """A time or time zone that cannot be a schedule."""


@dataclass(frozen=True)
class When:
    at: datetime  # UTC
    zone: str


def local_zone() -> str:
    """This machine's time zone name (``$TZ``, ``/etc/timezone``, ``/etc/localtime``), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    timezone_file = Path("/etc/timezone")
    if timezone_file.exists():
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name and _zone(name) is not None:
            return name
    return "UTC"


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_when(at: str, zone: str | None = None, *, now: datetime | None = None) -> When:
    """``--at "2026-12-07 09:00" --timezone Europe/Berlin`` as a UTC instant in the future.

    A wall-clock time the zone skips (spring forward) or has twice (fall
    back) is refused with the reason: guessing would send an hour off.
    """
    name = zone or local_zone()
    tz = _zone(name)
    if tz is None:
        raise ScheduleError(
            f"--timezone: unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        )
    naive = None
    for fmt in _FORMATS:
        try:
            naive = datetime.strptime(at.strip(), fmt)
            break
        except ValueError:
            continue
    if naive is None:
        raise ScheduleError(
            f'--at: expected "YYYY-MM-DD HH:MM" (e.g. "2026-12-07 09:00"), got {at!r}'
        )
    early, late = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        back = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise ScheduleError(
                f"--at: {at} does not exist in {name}: the clocks go forward over it; "
                "choose a time outside that hour"
            )
        raise ScheduleError(
            f"--at: {at} happens twice in {name}: the clocks go back over it; "
            "choose a time outside that hour"
        )
    when = early.astimezone(UTC)
    current = now or clock.now()
    if when <= current:
        raise ScheduleError(f"--at: {at} ({name}) is in the past")
    return When(when, name)


def schedule(
    session: Session, campaign_id: int, when: When, *, queue: str, waves_kept: bool = False
) -> Campaign:
    """Schedule (or reschedule) a draft; on PostgreSQL, defer its start job.

    A schedule at one time replaces a local-time one (its waves are cleared);
    ``waves_kept`` is :func:`schedule_local` starting the waves it just stored.
    """
    campaign = store.get_campaign(session, campaign_id)
    _check_draft(campaign)
    if not waves_kept:
        waves.clear(session, campaign_id)
    connection = session.connection()
    if campaign.schedule_job is not None:
        jobs.cancel(connection, campaign.schedule_job)
    campaign.scheduled_at, campaign.schedule_zone, campaign.schedule_job = when.at, when.zone, None
    if connection.dialect.name == "postgresql":
        (job,) = jobs.defer(
            connection,
            jobs.START_CAMPAIGN,
            [{"campaign_id": campaign_id, "at": when.at.isoformat()}],
            queue=queue,
            at=clock.to_system(when.at),
        )
        campaign.schedule_job = job
    session.add(campaign)
    session.flush()
    return campaign


@dataclass(frozen=True)
class LocalSchedule:
    """What ``campaigns schedule --local`` decided."""

    campaign: Campaign
    waves: list[waves.Wave]
    skipped: int  # deliveries left out by --late skip


def schedule_local(
    session: Session,
    campaign_id: int,
    local: str,
    *,
    on: str | None,
    zone: str | None,
    late: str | None,
    window: str | None,
    rates: dict[str, float | None],
    queue: str,
) -> LocalSchedule:
    """Schedule a draft in waves, each recipient's message at ``local`` in their own zone.

    The campaign starts with its first wave, exactly as a campaign scheduled
    with ``--at`` starts (the same start job on PostgreSQL, the same look of
    the SQLite worker); later waves wait in the deliveries (see
    :mod:`newsletter.campaigns.waves`).
    """
    name = zone or local_zone()
    if _zone(name) is None:
        raise ScheduleError(
            f"--timezone: unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        )
    at = waves.parse_local(local)
    campaign = store.get_campaign(session, campaign_id)
    _check_draft(campaign)
    zones = waves.zoning(session, campaign_id, name)
    counts = zones.counts
    if not counts:
        raise store.CampaignError(f"campaign {campaign_id} has no recipients to schedule")
    now = clock.now()
    day = (
        waves.parse_day(on)
        if on
        else waves.first_day(counts, at, now.astimezone(ZoneInfo(name)).date(), now)
    )
    planned = waves.plan(counts, day, at, now=now, late=late)
    if not planned:
        raise waves.WaveError(f"--local: {at:%H:%M} on {day} has passed in every zone")
    if window:
        waves.check_window(planned, waves.parse_window(window), rates)
    skipped = waves.store_waves(session, campaign_id, zones, planned)
    first = planned[0]
    campaign = schedule(session, campaign_id, When(first.at, name), queue=queue, waves_kept=True)
    return LocalSchedule(campaign, planned, skipped)


def unschedule(session: Session, campaign_id: int) -> Campaign:
    """Clear a draft's schedule; on PostgreSQL, cancel its start job.

    A campaign already sending in waves keeps what was sent and the wave in
    progress; its remaining waves are cancelled.
    """
    campaign = store.get_campaign(session, campaign_id)
    if campaign.status != CampaignStatus.DRAFT and _has_waves(session, campaign_id):
        waves.cancel_remaining(session, campaign_id)
        session.refresh(campaign)
        return campaign
    if campaign.scheduled_at is None:
        raise store.CampaignError(f"campaign {campaign_id} is not scheduled")
    _check_draft(campaign)
    if campaign.schedule_job is not None:
        jobs.cancel(session.connection(), campaign.schedule_job)
    waves.clear(session, campaign_id)
    campaign.scheduled_at = campaign.schedule_zone = campaign.schedule_job = None
    session.add(campaign)
    session.flush()
    return campaign


def _has_waves(session: Session, campaign_id: int) -> bool:
    query = sa.select(sa.exists().where(waves.W.c.campaign_id == campaign_id))
    return bool(session.execute(query).scalar())


def _check_draft(campaign: Campaign) -> None:
    cid = campaign.id
    if campaign.kind != "campaign":
        raise store.CampaignError(f"campaign {cid} is a proof; proofs are sent at once")
    if campaign.status != CampaignStatus.DRAFT:
        raise store.CampaignBusy(
            f"campaign {cid} has already started ({campaign.status}); "
            f"to hold it, pause it: newsletter campaigns pause {cid}"
        )


def refuse_if_scheduled(campaign: Campaign) -> None:
    """``campaigns send`` of a scheduled campaign: say so rather than start it twice."""
    if campaign.status == CampaignStatus.DRAFT and campaign.scheduled_at is not None:
        from newsletter.campaigns.state import schedule_phrase

        raise store.CampaignBusy(
            f"campaign {campaign.id} is scheduled for "
            f"{schedule_phrase(campaign.scheduled_at, campaign.schedule_zone)}; to send it now, "
            f"unschedule it first: newsletter campaigns unschedule {campaign.id}"
        )


def still_due(session: Session, campaign_id: int, at: str) -> Campaign | None:
    """The campaign, if it is still a draft scheduled for ``at`` (ISO); else None."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.DRAFT:
        return None
    expected = datetime.fromisoformat(at)
    if campaign.scheduled_at is None or abs(campaign.scheduled_at - expected) > timedelta(
        milliseconds=1
    ):
        return None
    return campaign


def due(connection: sa.Connection, now: datetime | None = None) -> list[int]:
    """Scheduled drafts whose time has come, earliest first (SQLite's worker starts them)."""
    query = (
        sa.select(C.c.id)
        .where(C.c.status == CampaignStatus.DRAFT.value, C.c.scheduled_at <= (now or clock.now()))
        .order_by(C.c.scheduled_at, C.c.id)
    )
    return list(connection.execute(query).scalars())


def due_waves(connection: sa.Connection, now: datetime | None = None) -> list[int]:
    """Campaigns a SQLite sender left between waves whose next wave is due (or that a dead
    sender left in the middle of one): the worker resumes them."""
    wave_due = sa.exists().where(
        D.c.campaign_id == C.c.id,
        D.c.status == DeliveryStatus.QUEUED.value,
        D.c.wave.is_not(None),
        D.c.next_attempt_at <= (now or clock.now()),
    )
    query = (
        sa.select(C.c.id)
        .where(C.c.status == CampaignStatus.SENDING.value, C.c.queue.is_(None), wave_due)
        .order_by(C.c.id)
    )
    return list(connection.execute(query).scalars())
