"""``campaigns show``: a campaign and its totals, in SQL the driver runs as it is.

The whole command must answer in a fraction of a second for a campaign of a
million deliveries, and importing SQLAlchemy alone takes longer than the
answer. So these queries are plain SQL over a DB-API connection: on SQLite
the ``sqlite3`` connection ``newsletter.lightdb`` opens without SQLAlchemy, elsewhere
the driver connection under a SQLAlchemy one (``campaigns show`` on
PostgreSQL, ``store`` and the sender's ledger pass that). The totals come
from the ``(campaign_id, status, id)`` index. ``tests/test_campaign_report.py``
checks the campaign and lease column names against ``tables.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from newsletter.campaigns.state import (
    CampaignError,
    CampaignSummary,
    EditionTotals,
    Holder,
    describe_state,
    judge,
)

CAMPAIGN_COLUMNS = (
    "id", "kind", "issue_slug", "list_slug", "subject", "status", "recipients", "transport",
    "lease_id", "language", "schedule_zone", "queue", "created_at", "started_at",
    "finished_at", "scheduled_at", "segment_name", "segment_expression",
)  # fmt: skip
LEASE_COLUMNS = ("id", "host", "pid", "renewed_at", "expires_at", "released_at")
_TIMES = {"created_at", "started_at", "finished_at", "scheduled_at"}  # the campaign's
_TIMES |= {"renewed_at", "expires_at", "released_at"}  # the lease's
COMPLAINT = "complaint"  # Kind.COMPLAINT
# Gmail's bulk sender guidelines: stay below 0.1 %, never reach 0.3 %.
COMPLAINT_WARNING = 0.001
COMPLAINT_ERROR = 0.003

Query = Callable[..., list[tuple[Any, ...]]]


def reader(connection: Any) -> Query:
    """``query(sql, *params)`` → rows, for SQL written with ``?`` placeholders.

    ``connection`` is a ``sqlite3`` connection or a SQLAlchemy one; of the
    latter only its driver is used, in the driver's parameter style.
    """
    if isinstance(connection, sqlite3.Connection):
        return lambda sql, *params: connection.execute(sql, params).fetchall()
    qmark = connection.dialect.paramstyle == "qmark"

    def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        statement = sql if qmark else sql.replace("?", "%s")
        return list(connection.exec_driver_sql(statement, params).all())

    return query


def _time(value: Any) -> datetime | None:
    """A stored UTC time as an aware datetime: SQLite keeps naive ISO text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(columns: tuple[str, ...], row: tuple[Any, ...]) -> SimpleNamespace:
    return SimpleNamespace(
        **{c: _time(v) if c in _TIMES else v for c, v in zip(columns, row, strict=True)}
    )


def status_counts(connection: Any, campaign_id: int) -> dict[str, int]:
    """Deliveries per status, counted in the ``(campaign_id, status, id)`` index."""
    rows = reader(connection)(
        "SELECT status, count(*) FROM delivery WHERE campaign_id = ? GROUP BY status",
        campaign_id,
    )
    return {status: n for status, n in rows}


def edition_totals(
    connection: Any,
    campaign_id: int,
    language: str | None,
    subject: str,
    counts: Mapping[str, int],
) -> tuple[EditionTotals, ...]:
    """Per language edition, the primary first: its subject and its deliveries by status.

    A campaign of one edition has its totals already (``counts``); only one
    of several editions reads its deliveries again, grouped by edition.
    """
    query = reader(connection)
    others = query(
        "SELECT language, subject FROM campaign_edition WHERE campaign_id = ? ORDER BY language",
        campaign_id,
    )
    if not others:
        return (EditionTotals(language, subject, dict(counts)),)
    per: dict[str | None, dict[str, int]] = {}
    grouped = query(
        "SELECT edition, status, count(*) FROM delivery WHERE campaign_id = ?"
        " GROUP BY edition, status",
        campaign_id,
    )
    for edition, status, n in grouped:
        per.setdefault(edition or language, {})[status] = n
    subjects = [(language, subject), *others]
    return tuple(EditionTotals(lang, subj, per.get(lang, {})) for lang, subj in subjects)


def campaign_row(connection: Any, campaign_id: int) -> SimpleNamespace:
    rows = reader(connection)(
        f"SELECT {', '.join(CAMPAIGN_COLUMNS)} FROM campaign WHERE id = ?", campaign_id
    )
    if not rows:
        raise CampaignError(f"no campaign {campaign_id}; see: newsletter campaigns list")
    return _record(CAMPAIGN_COLUMNS, rows[0])


def summary(connection: Any, campaign_id: int) -> CampaignSummary:
    """``campaigns show``: the campaign and its totals, without touching a delivery row."""
    campaign = campaign_row(connection, campaign_id)
    counts = status_counts(connection, campaign_id)
    editions = edition_totals(connection, campaign_id, campaign.language, campaign.subject, counts)
    holder = _holder(connection, campaign.lease_id)
    return summary_of(campaign, counts, holder, editions, next_wave_of(connection, campaign))


def next_wave_of(connection: Any, campaign: Any) -> datetime | None:
    """When a campaign scheduled or sending in waves starts its next one (one query, only
    then)."""
    if campaign.status == "draft" and campaign.scheduled_at is None:
        return None
    if campaign.status not in ("draft", "sending"):
        return None
    return next_wave(waves_of(connection, campaign.id, counted=False))


def summary_of(
    campaign: Any,
    counts: dict[str, int],
    holder: Holder | None,
    editions: tuple[EditionTotals, ...],
    next_wave: datetime | None = None,
) -> CampaignSummary:
    """The summary of a campaign row or ORM object (``store.summarize`` passes the latter)."""
    return CampaignSummary(
        id=campaign.id,
        kind=campaign.kind,
        issue=campaign.issue_slug,
        list=campaign.list_slug,
        subject=campaign.subject,
        state=describe_state(campaign, counts, holder, next_wave),
        recipients=campaign.recipients,
        counts=counts,
        transport=campaign.transport,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        editions=editions,
        scheduled_at=campaign.scheduled_at,
        schedule_zone=campaign.schedule_zone,
        queue=campaign.queue,
        segment_name=campaign.segment_name,
        segment_expression=campaign.segment_expression,
    )


def _holder(connection: Any, lease_id: int | None) -> Holder | None:
    """What ``leases.holder`` says, from the lease's table row."""
    if lease_id is None:
        return None
    rows = reader(connection)(
        f"SELECT {', '.join(LEASE_COLUMNS)} FROM sender_lease WHERE id = ?", lease_id
    )
    if not rows:
        return None
    lease = _record(LEASE_COLUMNS, rows[0])
    if lease.released_at is not None:
        return None
    return judge(lease, datetime.now(UTC))


@dataclass(frozen=True)
class ComplaintRate:
    complaints: int
    sent: int

    @property
    def rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def level(self) -> str:
        """ok, warning (above 0.1 %) or error (above 0.3 %)."""
        if self.rate > COMPLAINT_ERROR:
            return "error"
        return "warning" if self.rate > COMPLAINT_WARNING else "ok"


def complaint_rate(connection: Any, campaign_id: int, sent: int | None = None) -> ComplaintRate:
    """Complaints about a campaign per message it sent (``sent`` when already counted).

    A person counts once, however often they complained.
    """
    query = reader(connection)
    ((complaints,),) = query(
        "SELECT count(DISTINCT key_hash) FROM bounce WHERE campaign_id = ? AND kind = ?",
        campaign_id,
        COMPLAINT,
    )
    if sent is None:
        ((sent,),) = query(
            "SELECT count(*) FROM delivery WHERE campaign_id = ? AND status = 'sent'", campaign_id
        )
    return ComplaintRate(complaints, sent)


@dataclass(frozen=True)
class Deferrals:
    """One destination's throttling of a campaign (``campaigns show``)."""

    destination: str
    deferrals: int
    backing_off_until: datetime | None
    last_reply: str | None


def destination_deferrals(connection: Any, campaign_id: int) -> list[Deferrals]:
    """Each destination that throttled the campaign, most deferrals first."""
    rows = reader(connection)(
        "SELECT destination, deferrals, level, backoff_until, last_reply FROM destination_state "
        "WHERE campaign_id = ? AND deferrals > 0 ORDER BY deferrals DESC, destination",
        campaign_id,
    )
    return [
        Deferrals(name, n, _time(until) if level else None, reply)
        for name, n, level, until, reply in rows
    ]


@dataclass(frozen=True)
class WaveRow:
    """A wave as ``campaigns show`` lists it."""

    number: int
    at: datetime
    local: str
    zones: tuple[str, ...]
    recipients: int
    sent: int
    started: bool
    cancelled: bool


def waves_of(connection: Any, campaign_id: int, *, counted: bool = True) -> list[WaveRow]:
    """The campaign's waves with how many of each were sent (plain SQL: ``show`` runs it on
    ``sqlite3``). Deliveries are read only for a campaign that has waves, and only with
    ``counted``: a million-recipient campaign without waves costs one index look-up."""
    query = reader(connection)
    rows = query(
        "SELECT number, at, local, zones, recipients, started_at, cancelled_at "
        "FROM campaign_wave WHERE campaign_id = ? ORDER BY number",
        campaign_id,
    )
    sent: dict[int, int] = {}
    if rows and counted:
        sent = dict(
            query(
                "SELECT wave, count(*) FROM delivery WHERE campaign_id = ? AND status = 'sent' "
                "GROUP BY wave",
                campaign_id,
            )
        )
    return [
        WaveRow(n, _time(at) or datetime.now(UTC), local, tuple(zones.split()), k, sent.get(n, 0),
                started is not None, cancelled is not None)
        for n, at, local, zones, k, started, cancelled in rows
    ]  # fmt: skip


def next_wave(rows: list[WaveRow]) -> datetime | None:
    """When the next wave starts, if one is still to come."""
    return next((w.at for w in rows if not w.started and not w.cancelled), None)
