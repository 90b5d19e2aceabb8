"""What a campaign did: its totals per delivery status and the delivery log, read fast.

``campaigns show`` and ``log`` answer for campaigns of a million deliveries,
so they work on a plain SQLAlchemy connection with light stand-ins for the
campaign, lease and delivery tables (no SQLModel, whose import alone costs
more than the whole answer): the totals come from the ``(campaign_id,
status, id)`` index, and the log streams the driver's tuples and formats
each cell once, as ``subscribers/export.py`` does. The ORM tables in
``tables.py`` stay the one definition of the schema;
``tests/test_campaign_report.py`` checks that these columns exist there.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring as _json_string  # json.dumps' own, ensure_ascii=False
from typing import Any, TextIO

import sqlalchemy as sa

from newsletter.campaigns.state import (
    CampaignError,
    CampaignSummary,
    EditionTotals,
    Holder,
    describe_state,
    judge,
)
from newsletter.db.columns import UTCDateTime
from newsletter.tabular import ESCAPABLE_START, escape_formula, iso_time, json_default

CAMPAIGN = sa.table(
    "campaign",
    *(sa.column(c) for c in ("id", "kind", "issue_slug", "list_slug", "subject", "status")),
    *(sa.column(c) for c in ("recipients", "transport", "lease_id", "language")),
    *(sa.column(c) for c in ("schedule_zone", "queue")),
    *(sa.column(c, UTCDateTime()) for c in ("created_at", "started_at", "finished_at")),
    sa.column("scheduled_at", UTCDateTime()),
)
LEASE = sa.table(
    "sender_lease",
    *(sa.column(c) for c in ("id", "host", "pid")),
    *(sa.column(c, UTCDateTime()) for c in ("renewed_at", "expires_at", "released_at")),
)
DELIVERY = sa.table(
    "delivery",
    *(sa.column(c) for c in ("id", "campaign_id", "address", "status", "attempts")),
    *(sa.column(c) for c in ("smtp_code", "smtp_reply", "queue_id", "message_id")),
    *(sa.column(c) for c in ("queued_at", "claimed_at", "finished_at", "edition")),
    *(sa.column(c) for c in ("kind", "next_attempt_at")),
)
EDITION = sa.table(
    "campaign_edition", *(sa.column(c) for c in ("campaign_id", "language", "subject"))
)

# The log's columns for scripts, and the table columns they come from.
LOG_COLUMNS = {
    "id": "id",
    "address": "address",
    "status": "status",
    "attempts": "attempts",
    "code": "smtp_code",
    "reply": "smtp_reply",
    "queue_id": "queue_id",
    "message_id": "message_id",
    "queued": "queued_at",
    "claimed": "claimed_at",
    "finished": "finished_at",
    "edition": "edition",  # the language edition the recipient was given
}
# …and one from elsewhere: what came back for the delivery later (``bounces=``).
COLUMNS = [*LOG_COLUMNS, "bounce"]
# ``log --kind``: the mails about a sign-up (no campaign), or every delivery of every
# kind; their log says of each row what it was and, if deferred, when it is retried.
KINDS = ("confirmation", "welcome", "all")
KIND_COLUMNS = [*COLUMNS, "kind", "campaign", "next_attempt"]
_TEXT = (1, 5, 6, 7, 12)  # free text a spreadsheet could take for a formula
_NEEDS_QUOTES = re.compile(r'["\r\n]')  # or a comma inside a cell: the csv module quotes them
_PAGE = 5000


def status_counts(connection: sa.Connection, campaign_id: int) -> dict[str, int]:
    """Deliveries per status, counted in the ``(campaign_id, status, id)`` index."""
    d = DELIVERY.c
    query = (
        sa.select(d.status, sa.func.count()).where(d.campaign_id == campaign_id).group_by(d.status)
    )
    return {status: n for status, n in connection.execute(query)}


def edition_totals(
    connection: sa.Connection,
    campaign_id: int,
    language: str | None,
    subject: str,
    counts: Mapping[str, int],
) -> tuple[EditionTotals, ...]:
    """Per language edition, the primary first: its subject and its deliveries by status.

    A campaign of one edition has its totals already (``counts``); only one
    of several editions reads its deliveries again, grouped by edition.
    """
    others = list(
        connection.execute(
            sa.select(EDITION.c.language, EDITION.c.subject)
            .where(EDITION.c.campaign_id == campaign_id)
            .order_by(EDITION.c.language)
        )
    )
    if not others:
        return (EditionTotals(language, subject, dict(counts)),)
    d = DELIVERY.c
    per: dict[str | None, dict[str, int]] = {}
    query = (
        sa.select(d.edition, d.status, sa.func.count())
        .where(d.campaign_id == campaign_id)
        .group_by(d.edition, d.status)
    )
    for edition, status, n in connection.execute(query):
        per.setdefault(edition or language, {})[status] = n
    subjects = [(language, subject), *((r.language, r.subject) for r in others)]
    return tuple(EditionTotals(lang, subj, per.get(lang, {})) for lang, subj in subjects)


def campaign_row(connection: sa.Connection, campaign_id: int) -> sa.Row[Any]:
    row = connection.execute(sa.select(CAMPAIGN).where(CAMPAIGN.c.id == campaign_id)).first()
    if row is None:
        raise CampaignError(f"no campaign {campaign_id}; see: newsletter campaigns list")
    return row


def summary(connection: sa.Connection, campaign_id: int) -> CampaignSummary:
    """``campaigns show``: the campaign and its totals, without touching a delivery row."""
    campaign = campaign_row(connection, campaign_id)
    counts = status_counts(connection, campaign_id)
    return CampaignSummary(
        id=campaign.id,
        kind=campaign.kind,
        issue=campaign.issue_slug,
        list=campaign.list_slug,
        subject=campaign.subject,
        state=describe_state(campaign, counts, _holder(connection, campaign.lease_id)),
        recipients=campaign.recipients,
        counts=counts,
        transport=campaign.transport,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        editions=edition_totals(
            connection, campaign_id, campaign.language, campaign.subject, counts
        ),
        scheduled_at=campaign.scheduled_at,
        schedule_zone=campaign.schedule_zone,
        queue=campaign.queue,
    )


def _holder(connection: sa.Connection, lease_id: int | None) -> Holder | None:
    """What ``leases.holder`` says, from the lease's table row."""
    if lease_id is None:
        return None
    lease = connection.execute(sa.select(LEASE).where(LEASE.c.id == lease_id)).first()
    if lease is None or lease.released_at is not None:
        return None
    return judge(lease, datetime.now(UTC))


def log_rows(
    connection: sa.Connection,
    campaign_id: int | None,
    statuses: list[str] | None = None,
    bounces: Mapping[int, str] | None = None,
    search: str | None = None,
    *,
    kind: str | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The delivery log in id order as tuples of ``COLUMNS`` values, streamed.

    Times are ISO 8601 text, as ``tabular.cell`` writes them; the other
    cells are the driver's values; ``bounces`` maps a delivery id to its
    bounce column; ``search`` keeps the addresses containing it, an IDN
    domain in either form. An unknown campaign is an error before the first row.
    With ``kind`` (one of ``KINDS``) instead of a campaign, the rows are
    that kind's, as tuples of ``KIND_COLUMNS``.
    """
    _check_scope(connection, campaign_id, kind)
    return _stream(connection, campaign_id, statuses, bounces or {}, search, kind)


def _check_scope(connection: sa.Connection, campaign_id: int | None, kind: str | None) -> None:
    if kind is None:
        assert campaign_id is not None, "a campaign's log or a kind's"
        campaign_row(connection, campaign_id)
    elif kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")


def _stream(
    connection: sa.Connection,
    campaign_id: int | None,
    statuses: list[str] | None,
    bounces: Mapping[int, str],
    search: str | None = None,
    kind: str | None = None,
) -> Iterator[tuple[Any, ...]]:
    for chunk in _chunks(connection, campaign_id, statuses, bounces, search, kind):
        yield from chunk


def _chunks(
    connection: sa.Connection,
    campaign_id: int | None,
    statuses: list[str] | None,
    bounces: Mapping[int, str],
    search: str | None = None,
    kind: str | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The log in pages of ``COLUMNS`` tuples: a page at a time keeps the per-row cost low."""
    d = DELIVERY.c
    query = sa.select(*(d[c] for c in LOG_COLUMNS.values()))
    if kind is None:
        query = query.where(d.campaign_id == campaign_id)
    else:
        query = query.add_columns(d.kind, d.campaign_id, d.next_attempt_at)
        if kind != "all":  # no campaign: the (campaign_id, id) index holds them together
            query = query.where(d.campaign_id.is_(None), d.kind == kind)
    if search:
        from newsletter.subscribers.addresses import address_forms

        address = sa.func.lower(d.address)
        query = query.where(
            sa.or_(*(address.contains(f, autoescape=True) for f in address_forms(search)))
        )
    if statuses:  # the (campaign_id, status, id) index finds them
        query = query.where(d.status.in_(statuses))
    # Without: (campaign_id, id) gives them in id order, with no sort of a million rows.
    sql = query.order_by(d.id).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    result = connection.exec_driver_sql(str(sql)).yield_per(_PAGE)
    get = bounces.get
    for page in result.partitions():
        if kind is None:
            yield [
                # queued, claimed and finished as ISO text; the edition; the bounce column
                (*r[:8], _iso(r[8]), _iso(r[9]), _iso(r[10]), r[11], get(r[0]))
                for r in page
            ]
        else:
            yield [
                (*r[:8], _iso(r[8]), _iso(r[9]), _iso(r[10]), r[11], get(r[0]), r[12], r[13],
                 _iso(r[14]))
                for r in page
            ]  # fmt: skip


def _iso(value: Any) -> str | None:
    return None if value is None else iso_time(value)


def write_log(
    connection: sa.Connection,
    campaign_id: int | None,
    out: TextIO,
    *,
    fmt: str = "csv",
    statuses: list[str] | None = None,
    bounces: Mapping[int, str] | None = None,
    search: str | None = None,
    kind: str | None = None,
) -> int:
    """``log --format csv|json``: the whole log to ``out``; returns the number of rows.

    The bytes are those of ``tabular.write_csv``/``write_json`` on the same
    rows (``tests/test_campaign_report.py``), built a page at a time: the csv
    module and a ``json.dumps`` per row cost more than the database.
    ``kind`` as for :func:`log_rows`.
    """
    _check_scope(connection, campaign_id, kind)
    pages = _chunks(connection, campaign_id, statuses, bounces or {}, search, kind)
    columns = COLUMNS if kind is None else KIND_COLUMNS
    return (_write_json if fmt == "json" else _write_csv)(pages, out, columns)


def _write_csv(pages: Iterator[list[tuple[Any, ...]]], out: TextIO, columns: list[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    commas = len(columns) - 1
    n = 0
    for page in pages:
        lines: list[str] = []
        for row in page:
            cells = ["" if v is None else str(v) for v in row]
            for i in _TEXT:
                if cells[i][:1] in ESCAPABLE_START:
                    cells[i] = escape_formula(cells[i])
            line = ",".join(cells)
            if line.count(",") == commas and not _NEEDS_QUOTES.search(line):
                lines.append(line)
                continue
            if lines:  # a cell needs quoting: the csv module writes this row
                out.write("\n".join(lines) + "\n")
                lines = []
            writer.writerow(cells)
        if lines:
            out.write("\n".join(lines) + "\n")
        n += len(page)
    return n


def _write_json(pages: Iterator[list[tuple[Any, ...]]], out: TextIO, columns: list[str]) -> int:
    # What json.dumps(dict(zip(COLUMNS, row)), ensure_ascii=False) gives, without
    # building the dict: the keys' text is fixed, each value encoded by json's
    # own string encoder.
    heads = [("{" if i == 0 else ", ") + json.dumps(c) + ": " for i, c in enumerate(columns)]
    n = 0
    out.write("[")
    for page in pages:
        objects = []
        for row in page:
            parts = []
            for head, value in zip(heads, row, strict=True):
                if value is None:
                    parts.append(head + "null")
                elif type(value) is str:
                    parts.append(head + _json_string(value))
                elif type(value) is int:
                    parts.append(head + str(value))
                else:
                    parts.append(head + json.dumps(value, ensure_ascii=False, default=json_default))
            objects.append("".join(parts) + "}")
        if objects:
            out.write(("\n" if n == 0 else ",\n") + ",\n".join(objects))
            n += len(objects)
    out.write("\n]\n" if n else "]\n")
    return n
