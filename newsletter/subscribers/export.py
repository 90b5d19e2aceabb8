"""Export subscribers in our own format, streaming, so any list size fits in memory.

The columns are exactly what ``import`` reads back (``importers/own.py``),
including each person's suppression, so export → import → export gives the
same file and a restored backup cannot mail someone who bounced. CSV cells
that a spreadsheet would run as a formula are defused (``tabular.escape_formula``)
and restored by the import.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.subscribers.bulk import Bulk
from newsletter.subscribers.importers.own import COLUMNS
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.tables import MailingList, Subscriber, Subscription, Suppression
from newsletter.tabular import cell, escape_formula, iso_time, write_json

EXPORT_COLUMNS = COLUMNS
_TIMES = ("created_at", "subscribed_at", "confirmed_at", "unsubscribed_at")

Progress = Callable[[int, int], None]


def _query(session: Session, list_slug: str | None) -> sa.Select:
    s = Subscriber.__table__  # type: ignore[attr-defined]
    sub = Subscription.__table__  # type: ignore[attr-defined]
    ml = MailingList.__table__  # type: ignore[attr-defined]
    sup = Suppression.__table__  # type: ignore[attr-defined]
    columns = (
        s.c.email,
        s.c.name,
        s.c.language,
        s.c.timezone,
        ml.c.slug.label("list"),
        sub.c.status,
        s.c.created_at,
        sub.c.created_at.label("subscribed_at"),
        sub.c.confirmed_at,
        sub.c.unsubscribed_at,
        s.c.attributes,
        sup.c.reason.label("suppressed"),
    )
    if list_slug is not None:
        target = get_list(session, list_slug)
        base = s.join(sub, sub.c.subscriber_id == s.c.id).join(ml, ml.c.id == sub.c.list_id)
    else:
        base = s.outerjoin(sub, sub.c.subscriber_id == s.c.id).outerjoin(
            ml, ml.c.id == sub.c.list_id
        )
    base = base.outerjoin(sup, sup.c.key_hash == s.c.key_hash)
    # _csv_cells finds the times and attributes by these names
    assert tuple(c.name for c in columns) == EXPORT_COLUMNS, "the export's columns drifted"
    query = sa.select(*columns).select_from(base)
    if list_slug is not None:
        query = query.where(sub.c.list_id == target.id)
    return query.order_by(s.c.id, ml.c.slug)


def count_rows(session: Session, list_slug: str | None = None) -> int:
    query = _query(session, list_slug).order_by(None)
    return session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()


def export_rows(session: Session, list_slug: str | None = None) -> Iterator[dict[str, Any]]:
    """One dict per subscription (or per subscriber without any, when exporting all)."""
    result = session.execute(_query(session, list_slug).execution_options(yield_per=2000))
    for row in result:
        yield row._asdict()


def export(
    session: Session,
    out: TextIO,
    *,
    list_slug: str | None = None,
    fmt: str = "csv",
    progress: Progress | None = None,
) -> int:
    """Write the export to ``out`` as ``csv`` or ``json``; returns the number of rows."""
    total = count_rows(session, list_slug) if progress is not None else 0
    if fmt == "json":
        rows: Iterator[Any] = export_rows(session, list_slug)
        if progress is not None:
            rows = _counting(rows, total, progress)
        return write_json(rows, EXPORT_COLUMNS, out)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    cells = _csv_cells(session, list_slug)
    if progress is not None:
        cells = _counting(cells, total, progress)
    n = 0
    for chunk in _chunks(cells, 1000):
        writer.writerows(chunk)
        n += len(chunk)
    return n


def _csv_cells(session: Session, list_slug: str | None) -> Iterator[list[str]]:
    """The CSV cells of :func:`export_rows`, formatted straight from stored values.

    SQLAlchemy's per-row type processing costs more than the query itself at a
    million rows, so this reads the driver's values: times are SQLite's
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text (or datetimes elsewhere), attributes
    JSON text. ``tests/test_subscribers_export.py`` checks the output is
    identical to formatting :func:`export_rows` with ``tabular.cell``.
    """
    conn = session.connection()
    sql = _query(session, list_slug).compile(
        dialect=conn.dialect, compile_kwargs={"literal_binds": True}
    )
    # stream_results: a server-side cursor on PostgreSQL, whose driver would
    # otherwise fetch the whole result into memory first (384 MB at a million).
    result = conn.exec_driver_sql(
        str(sql), execution_options={"stream_results": True, "max_row_buffer": 2000}
    ).yield_per(2000)
    times = [EXPORT_COLUMNS.index(c) for c in _TIMES]
    json_at = EXPORT_COLUMNS.index("attributes")
    for raw in result:
        row = ["" if v is None else v for v in raw]
        # Email and name are the only free text: the other cells are times,
        # JSON, or validated slugs, codes and states that cannot start a formula.
        row[0], row[1] = escape_formula(row[0]), escape_formula(row[1])
        for i in times:
            if row[i]:
                row[i] = iso_time(row[i])
        attributes = row[json_at]
        if attributes and attributes != "{}":
            row[json_at] = cell(Bulk.from_json(attributes))
        yield row


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _counting(rows: Iterator[Any], total: int, progress: Progress) -> Iterator[Any]:
    n = 0
    for n, row in enumerate(rows, 1):
        yield row
        if n % 5000 == 0:
            progress(n, total)
    progress(n, total)
