"""The delivery log's queries use an index at a million rows, on SQLite and on PostgreSQL.

The log grows by one row per recipient per campaign, so after a year of a
100,000-person list it holds a million rows. The queries a user waits for
(``newsletter log ID``, ``campaigns show``, a bounce matched to the delivery it
is about, ``subscribers data``) must stay index look-ups: a full scan costs
seconds per inbound bounce at that size. The statements are captured from the
real library functions as they run, then given to the planner: a query
rewritten without its index fails here, whoever rewrites it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from delivery_helpers import World

from newsletter.campaigns import report, store, totals
from newsletter.config import Inbound
from newsletter.inbound.attribute import _latest_delivery
from newsletter.inbound.policy import bounce_score
from newsletter.subscribers.gdpr import Person

CAMPAIGNS = 10
PER_CAMPAIGN = 100_000


def _fill(world: World) -> list[int]:
    """10 campaigns × 100,000 deliveries to the same 100,000 addresses, analysed."""
    ids = [world.campaign(again=True) for _ in range(CAMPAIGNS)]
    rows = CAMPAIGNS * PER_CAMPAIGN
    with world.db.engine.begin() as c:
        # Sent campaigns: a bounce is attached only to a delivery of one (never a draft's).
        c.exec_driver_sql("UPDATE campaign SET status = 'finished'")
        if c.dialect.name == "sqlite":
            c.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO delivery (campaign_id, address, name, status, attempts, queued_at) "
                "SELECT ? + i / ?, 'reader' || (i % ?) || '@example.org', 'Leser', "
                "CASE WHEN i % 50 = 0 THEN 'deferred' ELSE 'sent' END, 1, '2026-12-01 09:00:00' "
                "FROM n",
                (rows - 1, ids[0], PER_CAMPAIGN, PER_CAMPAIGN),
            )
            c.exec_driver_sql("ANALYZE")
        else:
            c.exec_driver_sql(
                "INSERT INTO delivery (campaign_id, address, name, status, attempts, queued_at) "
                "SELECT %s + i / %s, 'reader' || (i %% %s) || '@example.org', 'Leser', "
                "CASE WHEN i %% 50 = 0 THEN 'deferred' ELSE 'sent' END, 1, now() "
                "FROM generate_series(0, %s) AS i",
                (ids[0], PER_CAMPAIGN, PER_CAMPAIGN, rows - 1),
            )
    if world.db.engine.dialect.name == "postgresql":
        with world.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE delivery")
    return ids


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement run on ``engine`` that reads the delivery table, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM delivery" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def full_scans(engine: sa.Engine, statement: str, parameters: Any) -> list[str]:
    """The plan's nodes that read the whole delivery table (or all of one of its indexes)."""
    with engine.connect() as c:
        if c.dialect.name == "sqlite":
            plan = c.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            return [d for d in details if d.startswith("SCAN delivery")]
        (plan,) = c.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        # An index scan without an index condition reads the whole index (for
        # its order) and filters every row: as bad as a Seq Scan.
        scan = node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan")
        if node.get("Relation Name") == "delivery" and scan and "Index Cond" not in node:
            found.append(f"{node['Node Type']} on delivery (filter {node.get('Filter')})")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory, backend: Any) -> Iterator[World]:
    """One world with the million rows for every test here (filling takes seconds)."""
    tmp = tmp_path_factory.mktemp("million")
    url = backend.create(tmp, "million", migrated=True)
    world = World(tmp, url)
    world.ids = _fill(world)  # type: ignore[attr-defined]
    yield world
    world.db.dispose()
    backend.drop(url)


def _log(world: World, cid: int, statuses: list[str] | None = None) -> None:
    with world.db.session() as s:
        next(iter(store.iter_log(s, cid, statuses)))


def _report_log(world: World, cid: int) -> None:
    """What ``newsletter log ID`` reads: driver rows, not the ORM."""
    with world.db.engine.connect() as connection:
        assert sum(1 for _ in report.log_rows(connection, cid)) == PER_CAMPAIGN


def _report_summary(world: World, cid: int) -> None:
    """What ``campaigns show ID`` reads."""
    with world.db.engine.connect() as connection:
        assert sum(totals.summary(connection, cid).counts.values()) == PER_CAMPAIGN


def _counts(world: World, cid: int) -> None:
    with world.db.session() as s:
        assert sum(store.status_counts(s, cid).values()) == PER_CAMPAIGN


def _bounce_target(world: World, _cid: int) -> None:
    with world.db.session() as s:
        found = _latest_delivery(s, "Reader4711@Example.org", None)
        assert found is not None and found.campaign_id == world.ids[-1]  # type: ignore[attr-defined]


def _bounce_score(world: World, _cid: int) -> None:
    with world.db.session() as s:
        bounce_score(s, "reader4711@example.org", "0" * 64, Inbound())


def _personal_data(world: World, _cid: int) -> None:
    with world.db.session() as s:
        person = Person(key="reader4711@example.org", hashes=frozenset(), subscriber_id=None)
        assert len(store.collect_deliveries(s, person) or []) == CAMPAIGNS


QUERIES: dict[str, Callable[[World, int], None]] = {
    "log of one campaign": _log,
    "log of one campaign, deferred only": lambda w, cid: _log(w, cid, ["deferred"]),
    "totals of one campaign": _counts,
    "log ID (driver rows)": _report_log,
    "campaigns show ID": _report_summary,
    "the delivery a bounce is about": _bounce_target,
    "an address's recent failures": _bounce_score,
    "everything sent to one person": _personal_data,
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("query", list(QUERIES))
def test_the_query_uses_an_index_at_a_million_rows(million: World, query: str) -> None:
    engine = million.db.engine
    with captured(engine) as statements:
        QUERIES[query](million, million.ids[3])  # type: ignore[attr-defined]
    assert statements, "the function ran no query on the delivery table"
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement
