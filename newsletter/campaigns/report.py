"""The delivery log of ``newsletter log``, read fast (the totals are in ``totals.py``).

``log`` answers for campaigns of a million deliveries, so it works on a
plain SQLAlchemy connection with a light stand-in for the delivery table
(no SQLModel, whose import alone costs more than the whole answer): the log
streams the driver's tuples in the ``(campaign_id, id)`` index's order and
formats each cell once, as ``subscribers/export.py`` does. The ORM tables in
``tables.py`` stay the one definition of the schema;
``tests/test_campaign_report.py`` checks that these columns exist there.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from json.encoder import encode_basestring as _json_string  # json.dumps' own, ensure_ascii=False
from typing import Any, TextIO

import sqlalchemy as sa

from newsletter.campaigns.totals import campaign_row
from newsletter.tabular import ESCAPABLE_START, escape_formula, iso_time, json_default

DELIVERY = sa.table(
    "delivery",
    *(sa.column(c) for c in ("id", "campaign_id", "address", "status", "attempts")),
    *(sa.column(c) for c in ("smtp_code", "smtp_reply", "queue_id", "message_id")),
    *(sa.column(c) for c in ("queued_at", "claimed_at", "finished_at", "edition")),
    *(sa.column(c) for c in ("kind", "next_attempt_at", "zone")),
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
# …and one from elsewhere: what came back for the delivery later (``bounces=``); then the
# zone a local-time schedule timed the delivery in (campaigns.waves), last, so the
# columns before it keep their places for scripts.
COLUMNS = [*LOG_COLUMNS, "bounce", "zone"]
# ``log --kind``: the mails about a sign-up (no campaign), or every delivery of every
# kind; their log says of each row what it was and, if deferred, when it is retried.
KINDS = ("confirmation", "invitation", "reminder", "welcome", "all")
KIND_COLUMNS = [*COLUMNS, "kind", "campaign", "next_attempt"]
_TEXT = (1, 5, 6, 7, 12)  # free text a spreadsheet could take for a formula
# A text cell that may start a formula comes after a comma (the id is first); the
# plain substring tests are several times faster than one regular expression.
assert set("=+-@'\t\r") == ESCAPABLE_START, "the checks in _write_csv list them"
_PAGE = 5000


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
    query = sa.select(*(d[c] for c in LOG_COLUMNS.values()), d.zone)
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
    result = connection.exec_driver_sql(str(sql))
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # its cursor streams: tuples without Row objects
        cursor = result.cursor
        pages: Iterator[Any] = iter(lambda: cursor.fetchmany(_PAGE), [])
    else:
        pages = result.yield_per(_PAGE).partitions()
    get = bounces.get
    for page in pages:
        # queued, claimed and finished as ISO text; the edition; the bounce column
        if kind is None and sqlite:
            yield _log_page(page, get)
        elif kind is None:  # PostgreSQL: aware datetimes
            yield [
                (*r[:8], _iso(r[8]), _iso(r[9]), _iso(r[10]), r[11], get(r[0]), r[12]) for r in page
            ]
        else:
            yield [
                (*r[:8], _iso(r[8]), _iso(r[9]), _iso(r[10]), r[11], get(r[0]), r[12], r[13],
                 r[14], _iso(r[15]))
                for r in page
            ]  # fmt: skip


def _log_page(page: list[Any], bounce: Callable[[int], str | None]) -> list[tuple[Any, ...]]:
    """A page of a campaign's log on SQLite: the times as :func:`tabular.iso_time` writes them.

    A million rows make three million times: SQLAlchemy's SQLite storage
    text with a fraction (``YYYY-MM-DD HH:MM:SS.ffffff``) is converted inline,
    with two string methods instead of two calls (half the cost of the row).
    """
    iso, rows = iso_time, []  # type: ignore[var-annotated]
    append = rows.append
    for r in page:
        q, c, f = r[8], r[9], r[10]
        append(
            (
                *r[:8],
                None if q is None else (
                    q.replace(" ", "T", 1) + "+00:00"
                    if len(q) == 26 and q[19:] != ".000000" else iso(q)
                ),
                None if c is None else (
                    c.replace(" ", "T", 1) + "+00:00"
                    if len(c) == 26 and c[19:] != ".000000" else iso(c)
                ),
                None if f is None else (
                    f.replace(" ", "T", 1) + "+00:00"
                    if len(f) == 26 and f[19:] != ".000000" else iso(f)
                ),
                r[11],
                bounce(r[0]),
                r[12],
            )
        )  # fmt: skip
    return rows


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
            line = ",".join(["" if v is None else str(v) for v in row])
            if (
                line.count(",") == commas  # else a cell has a comma: quotes
                and '"' not in line  # quotes
                and "\n" not in line  # quotes
                and "\r" not in line  # quotes, or a formula
                and "\t" not in line  # may start a formula
                and ",=" not in line
                and ",+" not in line
                and ",-" not in line
                and ",@" not in line
                and ",'" not in line
            ):
                lines.append(line)
                continue
            # A cell needs quotes or may start a formula: as tabular.write_csv does it.
            cells = ["" if v is None else str(v) for v in row]
            for i in _TEXT:
                if cells[i][:1] in ESCAPABLE_START:
                    cells[i] = escape_formula(cells[i])
            if lines:
                out.write("\n".join(lines) + "\n")
                lines = []
            writer.writerow(cells)
        if lines:
            out.write("\n".join(lines) + "\n")
        n += len(page)
    return n


def _write_json(pages: Iterator[list[tuple[Any, ...]]], out: TextIO, columns: list[str]) -> int:
    # What json.dumps(dict(zip(columns, row)), ensure_ascii=False) gives, without
    # building the dict: the keys' text is fixed, and the values are encoded a
    # column at a time, each by the encoder its cells' types take (json's own).
    template = "{" + ", ".join(json.dumps(c) + ": %s" for c in columns) + "}"
    n = 0
    out.write("[")
    for page in pages:
        if not page:
            continue
        cells = [_json_cells(column) for column in zip(*page, strict=True)]
        objects = [template % values for values in zip(*cells, strict=True)]
        out.write(("\n" if n == 0 else ",\n") + ",\n".join(objects))
        n += len(objects)
    out.write("\n]\n" if n else "]\n")
    return n


_NONE = type(None)


def _json_cells(column: tuple[Any, ...]) -> list[str]:
    """The JSON text of each value of one column of a page."""
    types = set(map(type, column))
    if types <= {str, _NONE}:
        return ["null" if v is None else _json_string(v) for v in column]
    if types <= {int, _NONE}:  # a bool is not an int here: type() is exact
        return ["null" if v is None else str(v) for v in column]
    return [json.dumps(v, ensure_ascii=False, default=json_default) for v in column]
