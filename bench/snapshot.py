"""Snapshot benchmark: ``campaigns create`` at 100,000 and 1,000,000 recipients, and a COPY import.

    python bench/snapshot.py                         # both backends, 100k and 1M, 3 rounds
    python bench/snapshot.py --backend sqlite --sizes 100000 --rounds 1
    python bench/snapshot.py --reference 100000      # also the per-row path of before, A/B
    python bench/snapshot.py --import-rows 0         # no PostgreSQL import

For each backend and size: a fresh database (SQLite file in a temp folder; a database in a
throwaway PostgreSQL cluster with PostgreSQL's default durability, ``tests/pg_cluster.py``)
filled in SQL with a varied population: five languages and none, 2 % unconfirmed, 1 %
suppressed, a second list. The campaign has three editions (de primary, en, zh), so every
recipient's edition is chosen. Each round times ``store.create_campaign`` plus its commit, then
deletes the campaign (untimed). Printed: every round, min and median, recipients per second,
and the load average. ``--reference N`` also times, at N recipients and alternating with the
SQL snapshot, the per-row Python snapshot this replaced (``python_snapshot`` below), and
prints the ratio of the medians.

Then ``newsletter subscribers import`` of a generated 1,000,000-row CSV (``bench/import.py``'s
generator) into a fresh PostgreSQL database, which writes with COPY (min/median of the rounds).

Not part of the test suite. Targets (issue #22): 1,000,000 recipients in <= 10 s on SQLite,
<= 20 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from newsletter.campaigns import store  # noqa: E402
from newsletter.campaigns.editions import add_editions  # noqa: E402
from newsletter.campaigns.tables import Campaign, Delivery  # noqa: E402
from newsletter.db import Database  # noqa: E402
from newsletter.db.columns import utcnow  # noqa: E402
from newsletter.subscribers.lists import create_list, get_list  # noqa: E402
from newsletter.subscribers.people import recipients  # noqa: E402


@dataclass(frozen=True)
class Edition:
    """What a campaign keeps of a rendered issue (``campaigns.editions.RenderedIssue``)."""

    slug: str
    language: str
    subject: str
    html: str
    text: str


PRIMARY = Edition("2021-07", "de", "ISA-Newsletter Juli", "<p>Hallo</p>" * 500, "Hallo\n" * 500)
OTHERS = [
    (Edition("2021-07", "en", "ISA newsletter July", "<p>Hello</p>" * 500, "Hello\n" * 500), None),
    (Edition("2021-07", "zh", "ISA 通讯 七月", "<p>你好</p>" * 500, "你好\n" * 500), None),
]

# One population on both backends: i = 1..n. Languages cycle through five tags and none
# (fr-CH has no edition: it gets the list's), every 50th subscription is unconfirmed, every
# 100th address suppressed, every 3rd person also on a second list.
_LANGUAGE = (
    "CASE i % 6 WHEN 0 THEN 'de' WHEN 1 THEN 'en' WHEN 2 THEN 'zh-Hans' WHEN 3 THEN 'fr-CH' "
    "WHEN 4 THEN 'zh-TW' ELSE NULL END"
)
_SERIES = {
    "sqlite": "WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series "
    "WHERE i < :n) ",
    "postgresql": "WITH series(i) AS (SELECT generate_series(1, :n)) ",
}
_NOW = {"sqlite": "'2026-12-01 00:00:00.000000'", "postgresql": "now()"}


def fill(db: Database, n: int) -> None:
    """``n`` subscribers of list ``isa`` (see above), written by the database itself."""
    with db.session() as s:
        isa = create_list(s, "isa", "ISA-Newsletter", language="de")
        other = create_list(s, "press", "Press")
        conn = s.connection()
        dialect = conn.dialect.name
        series, now = _SERIES[dialect], _NOW[dialect]
        conn.execute(
            sa.text(
                f"{series}INSERT INTO subscriber (id, email, key, key_hash, name, language, "
                f"attributes, created_at, updated_at) SELECT i, 'leser' || i || '@example.com', "
                f"'leser' || i || '@example.com', 'h' || i, 'Leser ' || i, {_LANGUAGE}, '{{}}', "
                f"{now}, {now} FROM series"
            ),
            {"n": n},
        )
        conn.execute(
            sa.text(
                f"{series}INSERT INTO subscription (subscriber_id, list_id, status, created_at, "
                f"confirmed_at, updated_at) SELECT i, :isa, CASE WHEN i % 50 = 0 THEN "
                f"'unconfirmed' ELSE 'confirmed' END, {now}, {now}, {now} FROM series"
            ),
            {"n": n, "isa": isa.id},
        )
        conn.execute(
            sa.text(
                f"{series}INSERT INTO subscription (subscriber_id, list_id, status, created_at, "
                f"confirmed_at, updated_at) SELECT i, :other, 'confirmed', {now}, {now}, {now} "
                "FROM series WHERE i % 3 = 0"
            ),
            {"n": n, "other": other.id},
        )
        conn.execute(
            sa.text(
                f"{series}INSERT INTO suppression (key_hash, address, reason, created_at) "
                f"SELECT 'h' || i, 'leser' || i || '@example.com', 'bounce', {now} FROM series "
                "WHERE i % 100 = 7"
            ),
            {"n": n},
        )
        if dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('subscriber', 'id'), "
                "(SELECT max(id) FROM subscriber))"
            )
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would have by then


def expected(n: int) -> int:
    return sum(1 for i in range(1, n + 1) if i % 50 and i % 100 != 7)


def python_snapshot(s, rendered, list_slug) -> Campaign:  # type: ignore[no-untyped-def]
    """The snapshot before issue #22, for ``--reference``: subscribers read into Python and
    written back 1,000 rows at a time with their edition chosen per row."""
    ml = get_list(s, list_slug)
    campaign = Campaign(
        uid="reference",
        issue_slug=rendered.slug,
        list_id=ml.id,
        list_slug=ml.slug,
        list_name=ml.name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        language=rendered.language,
    )
    s.add(campaign)
    s.flush()
    choose = add_editions(s, campaign, OTHERS, ml.language)
    table = Delivery.__table__  # type: ignore[attr-defined]
    now, batch, count = utcnow(), [], 0
    for sub in recipients(s, list_slug):
        batch.append(
            {
                "campaign_id": campaign.id,
                "subscriber_id": sub.id,
                "address": sub.email,
                "name": sub.name,
                "status": "queued",
                "attempts": 0,
                "queued_at": now,
                "edition": choose(sub.language),
            }
        )
        if len(batch) == 1000:
            s.execute(sa.insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        s.execute(sa.insert(table), batch)
        count += len(batch)
    campaign.recipients = count
    return campaign


def sql_snapshot(s, rendered, list_slug) -> Campaign:  # type: ignore[no-untyped-def]
    return store.create_campaign(s, rendered, list_slug, again=True, editions=OTHERS)


def server_cpu(s) -> Callable[[], float]:  # type: ignore[no-untyped-def]
    """CPU seconds of the session's PostgreSQL backend so far (0 for SQLite: in-process)."""
    conn = s.connection()
    if conn.dialect.name != "postgresql":
        return lambda: 0.0
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return read


def time_once(db: Database, n: int, how: Callable[..., Campaign]) -> tuple[float, float]:
    """Seconds, and CPU seconds (this process and its database backend), of one snapshot."""
    with db.session() as s:
        server = server_cpu(s)
        started, cpu, server_started = time.perf_counter(), time.process_time(), server()
        campaign = how(s, PRIMARY, "isa")
        cid = campaign.id
        assert campaign.recipients == expected(n), (campaign.recipients, expected(n))
        s.commit()
        elapsed = time.perf_counter() - started
        used = time.process_time() - cpu + server() - server_started
    with db.session() as s:
        s.execute(sa.delete(Delivery).where(Delivery.campaign_id == cid))  # type: ignore[arg-type]
        s.execute(sa.delete(Campaign).where(Campaign.id == cid))  # type: ignore[arg-type]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM delivery")  # the next round starts from a clean table
    return elapsed, used


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(
    label: str, times: list[float], n: int, cpu: list[float] | None = None, unit: str = "recipients"
) -> float:
    med = statistics.median(times)
    used = f"; CPU min {min(cpu):.2f} s, median {statistics.median(cpu):.2f} s" if cpu else ""
    print(
        f"{label}: min {min(times):.2f} s, median {med:.2f} s "
        f"({', '.join(f'{t:.2f}' for t in times)}; {n / med:,.0f} {unit}/s{used}; "
        f"load {load()})",
        flush=True,
    )
    return med


@contextmanager
def databases(backend: str) -> Iterator[Callable[[str], Database]]:
    """Yields ``fresh(name)``: a new, migrated, empty database of ``backend``."""
    if backend == "sqlite":
        work = Path(tempfile.mkdtemp(prefix="nl-snapshot-"))
        opened: list[Database] = []

        def fresh_sqlite(name: str) -> Database:
            db = Database(f"sqlite:///{work / (name + '.sqlite')}")
            db.ensure_schema()
            opened.append(db)
            return db

        try:
            yield fresh_sqlite
        finally:
            for db in opened:
                db.dispose()
            for f in work.iterdir():
                f.unlink()
            work.rmdir()
        return
    from pg_cluster import Cluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql")
    server = Cluster(bindir, durable=True)
    pg_opened: list[Database] = []

    def fresh_pg(name: str) -> Database:
        with server.admin().connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        db = Database(server.url(name))
        db.ensure_schema()
        pg_opened.append(db)
        return db

    server.start()
    try:
        yield fresh_pg
    finally:
        for db in pg_opened:
            db.dispose()
        server.stop()


def snapshots(backend: str, sizes: list[int], rounds: int, reference: int) -> None:
    with databases(backend) as fresh:
        for n in sizes:
            db = fresh(f"snap{n}")
            started = time.perf_counter()
            fill(db, n)
            print(
                f"{backend}: {n:,} subscribers ({expected(n):,} recipients) filled in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            sql: list[tuple[float, float]] = []
            ref: list[tuple[float, float]] = []
            for _ in range(rounds):
                sql.append(time_once(db, n, sql_snapshot))
                if n == reference:
                    ref.append(time_once(db, n, python_snapshot))
            m = expected(n)
            med = summary(f"{backend} snapshot of {m:,}", *_split(sql, m))
            if ref:
                ref_med = summary(f"{backend} per-row reference, {m:,}", *_split(ref, m))
                print(f"{backend}: the SQL snapshot is {ref_med / med:.1f}x as fast", flush=True)


def _split(pairs: list[tuple[float, float]], n: int) -> tuple[list[float], int, list[float]]:
    """(seconds, n, CPU seconds) for :func:`summary`."""
    return [p[0] for p in pairs], n, [p[1] for p in pairs]


def pg_import(rows: int, rounds: int) -> None:
    spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
    assert spec and spec.loader
    bench_import = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_import)
    csv_path = bench_import.WORK / f"snapshot-import-{rows}.csv"
    bench_import.WORK.mkdir(exist_ok=True)
    if not csv_path.exists():
        bench_import.generate(csv_path, rows)
    from newsletter.subscribers.importing import import_file

    times = []
    with databases("postgresql") as fresh:
        for r in range(rounds):
            db = fresh(f"imp{r}")
            with db.session() as s:
                create_list(s, "isa", "ISA-Newsletter")
            started = time.perf_counter()
            with db.session() as s:
                report = import_file(s, csv_path, list_slug="isa", skip_invalid=True)
            times.append(time.perf_counter() - started)
            assert report.applied and report.new > rows * 0.99, report
    summary(f"postgresql import (COPY) of {rows:,} rows", times, rows, unit="rows")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated subscriber counts")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reference", type=int, default=0, metavar="N",
                   help="also time the per-row snapshot of before at this size")  # fmt: skip
    p.add_argument("--import-rows", type=int, default=1_000_000)
    p.add_argument("--import-rounds", type=int, default=3)
    a = p.parse_args()
    sizes = [int(x) for x in a.sizes.split(",") if x]
    print(f"load average at start: {load()}; {os.cpu_count()} cores", flush=True)
    for backend in ("sqlite", "postgresql"):
        if a.backend in (backend, "both"):
            snapshots(backend, sizes, a.rounds, a.reference)
    if a.import_rows and a.backend in ("postgresql", "both"):
        pg_import(a.import_rows, a.import_rounds)


if __name__ == "__main__":
    main()
