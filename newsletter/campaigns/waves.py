"""Sending at each recipient's local time: one wave per UTC offset, earliest first.

``campaigns schedule ID --local 09:00 --on 2026-12-08`` gives every
delivery of a draft the zone it is timed in and the instant that is 09:00
there, and groups the deliveries whose instants coincide (Berlin and Paris,
say) into a wave. Nothing else about sending changes: a delivery of a later
wave waits ``queued`` with ``next_attempt_at`` at its wave's instant, and
every sender (the ``campaigns send`` process, a SQLite worker, a PostgreSQL
batch job) already takes only deliveries that are due. So the ledger's
crash guarantees (a claim is committed before the bytes leave; what was in
flight when a sender died is ``unknown``, never sent twice) and the rate
limit hold for waves as they do for any send.

Which zone a recipient gets, first match wins: the zone the subscriber gave
(never one guessed: a guess is used for this campaign only and not stored
on the subscriber); the list's default zone; a zone inferred from the
subscriber's language, if the list allows it (:data:`LANGUAGE_ZONES`); the
campaign's zone (``--timezone``).

Invariants: a delivery has a wave exactly when its campaign has waves; the
waves of a campaign are numbered 1, 2, … in order of ``at``; a delivery of
wave k is never claimed before that wave's ``at`` (``next_attempt_at``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from newsletter import clock
from newsletter.campaigns.statements import C, D
from newsletter.campaigns.tables import CampaignStatus, CampaignWave, DeliveryStatus
from newsletter.errors import BadInput

W = CampaignWave.__table__  # type: ignore[attr-defined]
# the subscriber's columns a zone is chosen from (campaigns does not import subscribers)
S = sa.table("subscriber", sa.column("id"), sa.column("timezone"), sa.column("language"))

# Languages spoken (nearly) all in one zone. Used only when a list says so
# (`lists edit SLUG --timezone-from-language`), and only for this campaign.
LANGUAGE_ZONES = {
    "zh": "Asia/Shanghai",
    "zh-hans": "Asia/Shanghai",
    "zh-cn": "Asia/Shanghai",
    "zh-hant": "Asia/Taipei",
    "zh-tw": "Asia/Taipei",
    "zh-hk": "Asia/Hong_Kong",
    "ja": "Asia/Tokyo",
    "ko": "Asia/Seoul",
}
LATE_REPLY = "not sent: its local time had passed when the campaign was scheduled (--late skip)"
UNSCHEDULED_REPLY = "not sent: its wave was unscheduled (campaigns unschedule)"
_WINDOW = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?")


class WaveError(BadInput):
    """A local-time schedule that cannot be kept."""


@dataclass(frozen=True)
class Wave:
    number: int
    at: datetime  # UTC
    local: str  # "2026-12-08 09:00", the wall-clock time in its zones
    zones: tuple[str, ...]
    recipients: int


def zone_from_language(language: str | None) -> str | None:
    """``zh-Hans`` → Asia/Shanghai: the zone a language implies, if it implies one."""
    if not language:
        return None
    tag = language.lower()
    while tag:
        if tag in LANGUAGE_ZONES:
            return LANGUAGE_ZONES[tag]
        tag = tag.rpartition("-")[0]
    return None


def zone_for(
    chosen: str | None,
    language: str | None,
    *,
    list_zone: str | None,
    from_language: bool,
    campaign_zone: str,
) -> str:
    """The zone a recipient's message is timed in (see the module's docstring)."""
    inferred = zone_from_language(language) if from_language else None
    return chosen or list_zone or inferred or campaign_zone


def parse_local(value: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise WaveError(f"--local: expected a time such as 09:00, got {value!r}") from None


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise WaveError(f"--on: expected a date such as 2026-12-08, got {value!r}") from None


def parse_window(value: str) -> timedelta:
    """``2h``, ``90m``, ``1h30m``."""
    m = _WINDOW.fullmatch(value.strip())
    if not value.strip() or m is None or not any(m.groups()):
        raise WaveError(f"--window: expected a duration such as 2h or 90m, got {value!r}")
    return timedelta(hours=int(m[1] or 0), minutes=int(m[2] or 0))


def instant(day: date, at: time, zone: str) -> datetime:
    """Wall-clock ``at`` on ``day`` in ``zone`` as UTC; a skipped time is refused, a repeated
    one is its first occurrence (zoneinfo's fold=0)."""
    tz = ZoneInfo(zone)
    local = datetime.combine(day, at, tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise WaveError(
            f"--local: {at:%H:%M} does not exist on {day} in {zone}: the clocks go forward "
            "over it; choose another time"
        )
    return local.astimezone(UTC)


def plan(
    zones: Mapping[str, int],
    day: date,
    at: time,
    *,
    now: datetime,
    late: str | None = None,
) -> list[Wave]:
    """The waves for recipients counted per zone.

    Zones whose instants coincide share a wave. A zone whose local time has
    passed is refused, sent now (``late="send"``) or left out (``"skip"``:
    :func:`store_waves` then cancels its recipients' deliveries).
    """
    by_instant: dict[datetime, list[str]] = {}
    for zone in sorted(zones):
        when = instant(day, at, zone)
        if when <= now:
            if late is None:
                raise WaveError(
                    f"--local: {at:%H:%M} on {day} has already passed in {zone} "
                    f"({when:%Y-%m-%d %H:%M} UTC); choose a later --on, or --late send|skip"
                )
            if late == "skip":
                continue
            when = now.replace(microsecond=0) + timedelta(seconds=1)
        by_instant.setdefault(when, []).append(zone)
    waves = []
    for number, when in enumerate(sorted(by_instant), 1):
        names = tuple(by_instant[when])
        local = when.astimezone(ZoneInfo(names[0]))
        waves.append(
            Wave(number, when, f"{local:%Y-%m-%d %H:%M}", names, sum(zones[z] for z in names))
        )
    return waves


def first_day(zones: Mapping[str, int], at: time, start: date, now: datetime) -> date:
    """Without ``--on``: the first day from ``start`` on which no zone's ``at`` has passed."""
    for offset in range(3):
        day = start + timedelta(days=offset)
        if all(instant(day, at, z) > now for z in zones):
            return day
    return start  # plan() then says which zone has passed


def check_window(waves: list[Wave], window: timedelta, rates: Mapping[str, float | None]) -> None:
    """Refuse a wave the rate limit cannot send within ``window``; ``rates``: per unit."""
    unit_seconds = {"second": 1, "minute": 60, "hour": 3600}
    for wave in waves:
        for unit, rate in rates.items():
            if not rate:
                continue
            needs = timedelta(seconds=wave.recipients / rate * unit_seconds[unit])
            if needs > window:
                raise WaveError(
                    f"--window: wave {wave.number} ({', '.join(wave.zones)}, {wave.recipients} "
                    f"recipients) needs {_span(needs)} at the rate limit of {rate:g} per {unit}; "
                    f"widen the window or raise the limit"
                )


def _span(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


# -- the database side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Zoning:
    """Which zone each delivery of a campaign is timed in: counted per zone for the plan,
    and written by :func:`store_waves` in SQL, without reading the deliveries into Python."""

    counts: Counter[str]  # deliveries per zone
    expression: sa.ColumnElement[str]  # the zone, over delivery LEFT JOIN subscriber


def zoning(session: Session, campaign_id: int, campaign_zone: str) -> Zoning:
    """:func:`zone_for` for every delivery of the campaign, in two steps that stay exact.

    The zone depends only on the subscriber's zone and language (the list's settings are
    the campaign's), so one query counts the deliveries per (zone, language) and Python
    applies :func:`zone_for` to each pair. The SQL expression then gives each delivery the
    zone it gave: the subscriber's own (an empty one counts as none, as ``or`` does), else
    the list's, else the zone inferred from one of the languages seen (matched exactly:
    their zones were worked out here), else the campaign's.
    """
    row = session.execute(
        sa.text(
            "SELECT l.timezone, l.timezone_from_language FROM campaign c "
            "LEFT JOIN mailing_list l ON l.id = c.list_id WHERE c.id = :cid"
        ),
        {"cid": campaign_id},
    ).one_or_none()
    list_zone, from_language = (row[0] or None, bool(row[1])) if row else (None, False)
    pairs = session.execute(
        sa.select(S.c.timezone, S.c.language, sa.func.count())
        .select_from(D.outerjoin(S, S.c.id == D.c.subscriber_id))
        .where(D.c.campaign_id == campaign_id)
        .group_by(S.c.timezone, S.c.language)
    ).all()
    counts: Counter[str] = Counter()
    for chosen, language, n in pairs:
        zone = zone_for(
            chosen,
            language,
            list_zone=list_zone,
            from_language=from_language,
            campaign_zone=campaign_zone,
        )
        counts[zone] += n
    fallback: sa.ColumnElement[str] = sa.literal(list_zone or campaign_zone)
    if list_zone is None and from_language:
        inferred = {lang: z for lang in {p[1] for p in pairs} if (z := zone_from_language(lang))}
        if inferred:
            by_language = sa.case(*((S.c.language == k, v) for k, v in sorted(inferred.items())))
            fallback = sa.func.coalesce(by_language, fallback)
    return Zoning(counts, sa.func.coalesce(sa.func.nullif(S.c.timezone, ""), fallback))


def clear(session: Session, campaign_id: int) -> None:
    """Undo a draft's waves: every delivery queued again, untimed."""
    session.execute(sa.delete(W).where(W.c.campaign_id == campaign_id))
    session.execute(
        sa.update(D)
        .where(D.c.campaign_id == campaign_id)
        .where(sa.or_(D.c.wave.is_not(None), D.c.smtp_reply == LATE_REPLY))
        .values(
            status=DeliveryStatus.QUEUED.value,
            zone=None,
            wave=None,
            next_attempt_at=None,
            smtp_reply=None,
            finished_at=None,
        )
    )


def store_waves(session: Session, campaign_id: int, zones: Zoning, waves: list[Wave]) -> int:
    """Write the waves and time each delivery (a draft's, in the caller's transaction).

    ``zones``: :func:`zoning`. One UPDATE gives every delivery its zone and its
    wave's number and instant, or cancels it when its zone was left out; no delivery is
    read into Python, so a million take seconds (bench/schedule_local.py). Returns how
    many deliveries were left out (their zones' time had passed).
    """
    clear(session, campaign_id)
    session.execute(
        sa.insert(W),
        [
            {
                "campaign_id": campaign_id,
                "number": w.number,
                "at": w.at,
                "local": w.local,
                "zones": " ".join(w.zones),
                "recipients": w.recipients,
            }
            for w in waves
        ],
    )
    timed = {zone for w in waves for zone in w.zones}
    skipped = sorted(zone for zone in zones.counts if zone not in timed)
    z = (
        sa.select(D.c.id, zones.expression.label("zone"))
        .select_from(D.outerjoin(S, S.c.id == D.c.subscriber_id))
        .where(D.c.campaign_id == campaign_id)
        .subquery("z")
    )
    when = D.c.next_attempt_at.type
    values: dict[str, sa.ColumnElement[object]] = {
        "zone": z.c.zone,
        "wave": sa.case(*((z.c.zone.in_(w.zones), w.number) for w in waves), else_=sa.null()),
        "next_attempt_at": sa.case(
            *((z.c.zone.in_(w.zones), sa.literal(w.at, when)) for w in waves), else_=sa.null()
        ),
    }
    if skipped:
        left_out = z.c.zone.in_(skipped)
        for column, value in (
            ("status", sa.literal(DeliveryStatus.CANCELLED.value)),
            ("smtp_reply", sa.literal(LATE_REPLY)),
            ("finished_at", sa.literal(datetime.now(UTC), D.c.finished_at.type)),
        ):
            values[column] = sa.case((left_out, value), else_=D.c[column])
    session.execute(sa.update(D).where(D.c.id == z.c.id).values(**values))
    return sum(zones.counts[zone] for zone in skipped)


def mark_started(connection: sa.Connection, campaign_id: int) -> None:
    """The waves whose time has come are started (a sender is taking the campaign)."""
    now = clock.now()
    connection.execute(
        sa.update(W)
        .where(W.c.campaign_id == campaign_id, W.c.at <= now)
        .where(W.c.started_at.is_(None), W.c.cancelled_at.is_(None))
        .values(started_at=now)
    )


def waiting(connection: sa.Connection, campaign_id: int) -> bool:
    """Whether deliveries of the campaign wait for a wave: a run that ends is not the end."""
    return bool(
        connection.execute(
            sa.select(
                sa.exists().where(
                    D.c.campaign_id == campaign_id,
                    D.c.status == DeliveryStatus.QUEUED.value,
                    D.c.wave.is_not(None),
                )
            )
        ).scalar()
    )


def cancel_remaining(session: Session, campaign_id: int) -> tuple[int, int]:
    """``campaigns unschedule`` of a started campaign: the waves not yet started are cancelled,
    their deliveries too; what was sent stays. Returns (waves, deliveries) cancelled.

    A campaign idle between waves is finished at once; one a sender holds is
    finished by that sender when it lets go (nothing is waiting any more).
    """
    now = clock.now()
    numbers = list(
        session.execute(
            sa.select(W.c.number).where(
                W.c.campaign_id == campaign_id,
                W.c.started_at.is_(None),
                W.c.cancelled_at.is_(None),
            )
        ).scalars()
    )
    if not numbers:
        from newsletter.campaigns.store import CampaignError

        raise CampaignError(f"campaign {campaign_id} has no waves left to unschedule")
    session.execute(
        sa.update(W)
        .where(W.c.campaign_id == campaign_id, W.c.number.in_(numbers))
        .values(cancelled_at=now)
    )
    cancelled = session.execute(
        sa.update(D)
        .where(D.c.campaign_id == campaign_id, D.c.wave.in_(numbers))
        .where(D.c.status == DeliveryStatus.QUEUED.value)
        .values(
            status=DeliveryStatus.CANCELLED.value,
            smtp_reply=UNSCHEDULED_REPLY,
            finished_at=datetime.now(UTC),
            next_attempt_at=None,
        )
    ).rowcount  # type: ignore[attr-defined]
    open_ = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)
    still_open = sa.exists().where(
        D.c.campaign_id == campaign_id, D.c.status.in_((*open_, DeliveryStatus.DEFERRED.value))
    )
    session.execute(
        sa.update(C)
        .where(C.c.id == campaign_id, C.c.status == CampaignStatus.SENDING.value)
        .where(C.c.lease_id.is_(None), ~still_open)
        .values(status=CampaignStatus.FINISHED.value, finished_at=datetime.now(UTC))
    )
    return len(numbers), cancelled
