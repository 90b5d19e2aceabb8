"""``campaigns show`` and ``log`` read at driver level: the same bytes as the ORM path, fast.

The reference is the delivery log as the ORM reads it (``store.iter_log``),
formatted by ``tabular`` the way ``log`` did before it streamed driver rows.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import World

from newsletter.campaigns import report, store, totals
from newsletter.campaigns.tables import Campaign, Delivery, SenderLease
from newsletter.cli import cli
from newsletter.inbound import summary
from newsletter.inbound.tables import Bounce, Kind
from newsletter.lightdb import sqlite_reader
from newsletter.tabular import write_csv, write_json

ODD = [
    # status, attempts, code, reply, queue id, finished (None: still open)
    ("sent", 1, 250, "250 2.0.0 Ok: queued as 4F7A2", "4F7A2", datetime(2026, 11, 30, 8, 1, 2)),
    ("sent", 1, 250, "250 Empfänger \\ bestätigt\t– 已接收", "4F7A3", datetime(2026, 11, 30, 9)),
    ("bounced", 1, 550, '=HYPERLINK("http://example.org")', None, datetime(2026, 11, 30, 8)),
    ("deferred", 3, 451, "-4.7.1 'greylisted', \"try\"\nlater", None, None),
    ("failed", 1, None, "@connection refused", "+q", datetime(2026, 11, 30, 8, 0, 0, 1)),
    ("unknown", 1, None, None, None, None),
    ("sent", 2, 250, "'=already quoted", "q, with comma", datetime(2026, 12, 1, 23, 59, 59)),
]


def orm_log(world: World, campaign_id: int, fmt: str, statuses: list[str] | None = None) -> str:
    """What ``log --format csv|json`` printed when it read ORM objects."""
    out = io.StringIO()
    with world.db.session() as s:
        bounces = {
            b.delivery_id: f"{b.kind} {b.decision} (bounce {b.id})"
            for b in s.exec(sa.select(Bounce).order_by(Bounce.id)).scalars()  # type: ignore[call-overload]
            if b.delivery_id is not None and b.campaign_id == campaign_id
        }
        rows = (
            {
                "id": d.id,
                "address": d.address,
                "status": d.status,
                "attempts": d.attempts,
                "code": d.smtp_code,
                "reply": d.smtp_reply,
                "queue_id": d.queue_id,
                "message_id": d.message_id,
                "queued": d.queued_at,
                "claimed": d.claimed_at,
                "finished": d.finished_at,
                "edition": d.edition,
                "bounce": bounces.get(d.id),
                "zone": d.zone,
            }
            for d in store.iter_log(s, campaign_id, statuses)
        )
        (write_csv if fmt == "csv" else write_json)(rows, report.COLUMNS, out)
    return out.getvalue()


def driver_log(world: World, campaign_id: int, fmt: str, statuses: list[str] | None = None) -> str:
    out = io.StringIO()
    with world.db.engine.connect() as connection:
        bounces = summary.bounces_by_delivery(connection, campaign_id)
        report.write_log(connection, campaign_id, out, fmt=fmt, statuses=statuses, bounces=bounces)
    return out.getvalue()


@pytest.fixture
def logged(world: World) -> tuple[World, int]:
    """A campaign whose deliveries have every kind of value a log cell can hold."""
    world.add(len(ODD) + 2, prefix="=leser")
    world.campaign()  # campaign 1: other rows around campaign 2's
    cid = world.campaign(again=True)
    world.add(3, prefix="later")
    world.campaign(again=True)
    with world.db.session() as s:
        ids = s.execute(
            sa.select(Delivery.id).where(Delivery.campaign_id == cid).order_by(Delivery.id)
        ).scalars()
        for did, (status, attempts, code, reply, qid, finished) in zip(ids, ODD, strict=False):
            d = s.get(Delivery, did)
            assert d is not None
            d.status, d.attempts, d.smtp_code, d.smtp_reply, d.queue_id = (
                status,
                attempts,
                code,
                reply,
                qid,
            )
            d.claimed_at = datetime(2026, 11, 30, 7, 59, 59, 999999, tzinfo=UTC)
            d.finished_at = finished.replace(tzinfo=UTC) if finished else None
            if status == "unknown":
                d.address = d.message_id = None  # forgotten
            if status == "bounced":
                for n in (1, 2):  # the latest one is shown
                    s.add(
                        Bounce(
                            source="maildir:test",
                            kind=Kind.HARD.value if n == 2 else Kind.SOFT.value,
                            delivery_id=did,
                            campaign_id=cid,
                            decision="suppressed" if n == 2 else "scored",
                            content_hash=f"hash{n}",
                        )
                    )
    return world, cid


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_driver_level_log_is_byte_identical_to_the_orm_log(logged, fmt: str) -> None:
    world, cid = logged
    expected = orm_log(world, cid, fmt)
    assert driver_log(world, cid, fmt) == expected
    assert expected.count("\n") > len(ODD)
    for statuses in (["sent"], ["deferred", "unknown"], ["cancelled"]):
        assert driver_log(world, cid, fmt, statuses) == orm_log(world, cid, fmt, statuses)


def test_csv_cells_are_defused_and_times_are_iso(logged) -> None:
    world, cid = logged
    out = driver_log(world, cid, "csv")
    assert ',"\'=HYPERLINK(""http' in out and ",'@connection refused," in out and ",'+q," in out
    assert ",''=already quoted," in out
    assert ",2026-11-30T08:00:00+00:00," in out  # no fraction, as datetime.isoformat()
    assert ",2026-11-30T08:00:00.000001+00:00," in out
    assert ",'=leser" in out
    assert ",hard suppressed (bounce 2),\n" in out  # then the zone: none without --local


def test_the_log_of_a_campaign_without_deliveries_is_only_the_header(world: World) -> None:
    cid = world.campaign()  # nobody on the list yet
    assert (
        driver_log(world, cid, "csv")
        == orm_log(world, cid, "csv")
        == (",".join(report.COLUMNS) + "\n")
    )
    assert driver_log(world, cid, "json") == "[]\n"


def test_an_unknown_campaign_is_an_error_before_any_output(logged) -> None:
    world, _ = logged
    for fmt in ("csv", "json", "table"):
        r = CliRunner().invoke(
            cli, ["--database", world.settings.database_url, "log", "99", "--format", fmt]
        )
        assert (r.exit_code, r.output) == (
            2,
            "Error: no campaign 99; see: newsletter campaigns list\n",
        )


def test_the_table_says_forgotten(logged) -> None:
    world, cid = logged
    r = CliRunner().invoke(cli, ["--database", world.settings.database_url, "log", str(cid)])
    assert r.exit_code == 0
    assert "(forgotten)" in r.output and "=leser" in r.output


@pytest.mark.sqlite_only(
    "SQLite's EXPLAIN QUERY PLAN; test_delivery_log_plans.py checks report.summary on both"
)
def test_show_counts_in_the_index_and_matches_the_orm(logged) -> None:
    world, cid = logged
    with world.db.engine.connect() as connection:
        fast = totals.summary(connection, cid)
        query = (
            sa.select(report.DELIVERY.c.status, sa.func.count())
            .where(report.DELIVERY.c.campaign_id == cid)
            .group_by(report.DELIVERY.c.status)
        )
        sql = str(query.compile(compile_kwargs={"literal_binds": True}))
        plan = " ".join(r[-1] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_delivery_campaign_status" in plan
    with world.db.session() as s:
        assert fast == store.summarize(s, store.get_campaign(s, cid))
    # What the command reads on SQLite: the sqlite3 connection, no SQLAlchemy.
    light = sqlite_reader(world.settings.database_url)
    assert light is not None
    with light, world.db.engine.connect() as connection:
        assert totals.summary(light, cid) == fast
        assert totals.complaint_rate(light, cid) == summary.complaint_rate(connection, cid)
    light.close()
    assert fast.counts == {
        "sent": 3,
        "bounced": 1,
        "deferred": 1,
        "failed": 1,
        "unknown": 1,
        "queued": 2,
    }
    assert fast.state == "draft"


@pytest.mark.sqlite_only(
    "SQLite's EXPLAIN QUERY PLAN; test_delivery_log_plans.py checks report.log_rows on both"
)
def test_the_full_log_reads_the_table_in_id_order_without_a_sort(logged) -> None:
    world, cid = logged
    sql: list[str] = []
    with world.db.engine.connect() as connection:
        sa.event.listen(
            connection, "before_cursor_execute", lambda *a: sql.append(a[2]), named=False
        )
        list(report.log_rows(connection, cid))
        (select,) = [q for q in sql if "smtp_reply" in q]
        plan = " ".join(r[-1] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {select}"))
    assert "USING INDEX ix_delivery_campaign_id" in plan and "TEMP B-TREE" not in plan


def test_the_stand_in_tables_name_real_columns() -> None:
    for names, table in (
        (totals.CAMPAIGN_COLUMNS, Campaign),
        (report.DELIVERY.c.keys(), Delivery),
        (totals.LEASE_COLUMNS, SenderLease),
        (summary.BOUNCE.c.keys(), Bounce),
    ):
        real = set(table.__table__.c.keys())  # type: ignore[attr-defined]
        assert set(names) <= real, set(names) - real
    assert Kind.COMPLAINT.value == summary.COMPLAINT
