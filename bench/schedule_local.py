"""Local-time scheduling at scale: ``campaigns schedule ID --local 09:00 --on DAY`` (issue 22).

    python bench/schedule_local.py                          # both backends, 100k and 1M, 3 rounds
    python bench/schedule_local.py --ref /tmp/base          # also older code, alternating
    python bench/schedule_local.py --backend sqlite --sizes 100000 --rounds 1

For each backend and size: a fresh database (bench/snapshot.py's: a SQLite file, or a database
in a throwaway PostgreSQL cluster) filled in SQL with ``n`` subscribers, of whom a seventh each
gave Europe/Berlin, America/New_York, Asia/Tokyo or an empty zone and the rest none; the list
infers a zone from the language (zh-Hans, zh-TW), the others get the campaign's (Europe/London):
five waves. Each round times ``workers.schedule.schedule_local`` and its commit in a child
process whose ``newsletter`` is the tree under test, then unschedules (untimed). ``--ref DIR``
(a checkout of older code, e.g. ``git archive`` of main) runs the same, alternating round by
round (``--ref-rounds N``: in the first N rounds only, the old code being slow at a million).
Printed: every round, the min and median, deliveries per second, the load average.

Not part of the test suite (tests/test_local_time.py and test_local_time_sql.py are).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DAY, LOCAL, ZONE = "2031-01-14", "09:00", "Europe/London"
_ZONES = (
    "UPDATE subscriber SET timezone = CASE id % 7 WHEN 0 THEN 'Europe/Berlin' "
    "WHEN 1 THEN 'America/New_York' WHEN 2 THEN 'Asia/Tokyo' WHEN 3 THEN '' ELSE NULL END"
)


def _snapshot_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_snapshot", ROOT / "bench" / "snapshot.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_snapshot"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def child(url: str, cid: int) -> dict[str, float]:
    """One timed schedule, in a process whose ``newsletter`` is the tree under test."""
    from newsletter.campaigns import store
    from newsletter.db import Database
    from newsletter.workers import schedule

    db = Database(url)
    with db.session() as s:
        store.get_campaign(s, cid)  # the ORM set up and connected before the clock starts
        started = time.perf_counter()
        done = schedule.schedule_local(
            s, cid, LOCAL, on=DAY, zone=ZONE, late=None, window=None, rates={}, queue="default"
        )
        s.commit()
        seconds = time.perf_counter() - started
        waves = len(done.waves)
        timed = sum(w.recipients for w in done.waves)
    with db.session() as s:
        schedule.unschedule(s, cid)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM delivery")  # the next round starts from a clean table
    db.dispose()
    return {"seconds": seconds, "waves": waves, "timed": timed}


def run(tree: Path, url: str, cid: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(cid)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench(
    backend: str, sizes: list[int], rounds: int, trees: list[tuple[str, Path]], ref_rounds: int
) -> None:
    snap = _snapshot_bench()
    with snap.databases(backend) as fresh:
        for n in sizes:
            db = fresh(f"sched{n}")
            started = time.perf_counter()
            snap.fill(db, n)
            with db.session() as s:
                s.execute(sa.text(_ZONES))
                s.execute(sa.text("UPDATE mailing_list SET timezone_from_language = true"))
                cid = snap.sql_snapshot(s, snap.PRIMARY, "isa").id
            if backend == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM ANALYZE")
            m = snap.expected(n)
            print(f"{backend}: {m:,} deliveries ready in {time.perf_counter() - started:.0f} s")
            url = db.engine.url.render_as_string(hide_password=False)
            got: dict[str, list[float]] = {name: [] for name, _ in trees}
            for r in range(1, rounds + 1):
                for name, tree in trees:
                    if name == "reference" and r > ref_rounds:
                        continue
                    one = run(tree, url, cid)
                    assert one["timed"] == m, (one, m)
                    got[name].append(one["seconds"])
                    print(
                        f"  round {r} {name:9}: {one['seconds']:7.2f} s for {m:,} deliveries "
                        f"in {one['waves']:.0f} waves; load average {load()}",
                        flush=True,
                    )
            for name, times in got.items():
                med = statistics.median(times)
                print(
                    f"{backend} {m:,} {name:9}: min {min(times):.2f} s, median {med:.2f} s "
                    f"({m / med:,.0f} deliveries/s); load average {load()}",
                    flush=True,
                )
            if len(trees) == 2:
                ratio = statistics.median(got[trees[1][0]]) / statistics.median(got[trees[0][0]])
                print(f"{backend} {m:,}: this tree is {ratio:.1f}x as fast (medians)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated subscriber counts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref", type=Path, help="a reference tree to alternate with")
    ap.add_argument(
        "--ref-rounds", type=int, default=3, help="time the reference in the first N rounds only"
    )
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    trees = [("this tree", ROOT)] + ([("reference", args.ref)] if args.ref else [])
    sizes = [int(x) for x in args.sizes.split(",") if x]
    print(f"load average at start: {load()}; {os.cpu_count()} cores", flush=True)
    for backend in ("sqlite", "postgresql"):
        if args.backend in (backend, "both"):
            bench(backend, sizes, args.rounds, trees, args.ref_rounds)


if __name__ == "__main__":
    main()
