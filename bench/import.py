"""Benchmark: import and export a million subscribers.

    python bench/import.py              # 1,000,000 rows into SQLite
    python bench/import.py --rows 100000
    python bench/import.py --backend postgresql     # a throwaway cluster, default settings
    python bench/import.py --database postgresql+psycopg://me@/bench?host=/run/postgresql
    python bench/import.py --backend postgresql --rows 200000 --compare-copy 3

Generates a CSV in our own format under ``bench/_work/`` (git-ignored) with
realistic variety: names in German, English and Chinese, attributes on every
third row, 2 % of addresses built from first names (Jürgen, Søren … take
email-validator's slow path) and one invalid row per 100,000, then imports it into a fresh
database with ``--skip-invalid`` and exports it again. ``--backend postgresql`` starts a
PostgreSQL cluster of its own (``tests/pg_cluster.py``, with PostgreSQL's default durability
settings, unlike the test cluster) and removes it afterwards; ``--database`` uses an empty
database you provide. ``--compare-copy N`` imports N times with COPY and N times with
pipelined INSERTs (the SQLite path), alternating, each into a new database, and prints the
ratio of the medians. Each phase runs in its
own process so its peak RSS is its own; the import's figure includes the
reader process it starts. The baseline is listmonk's importer, which
manages about 10,000 rows/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "_work"
BASELINE_ROWS_PER_S = 10_000
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0

FIRST = ["Anna", "Jürgen", "Marie", "John", "Özlem", "Søren", "Li", "Wei", "Fang", "Lukas"]
LAST = ["Müller", "Schmidt", "Smith", "Brown", "王", "李", "张", "Weiß", "Jones", "Groß"]
DOMAINS = ["example.org", "example.com", "example.net", "mail.example.org"]


def generate(path: Path, rows: int) -> None:
    rnd = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["email", "name", "language", "status", "attributes"])
        for i in range(rows):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            if rnd.random() < 0.02:  # some with umlauts: email-validator's slow path
                local = f"{first.lower()}.{i}"
            else:
                local = f"user{i}.{rnd.randrange(99)}"
            email = f"{local}@{DOMAINS[i % len(DOMAINS)]}"
            if i % 100_000 == 99_999:
                email = f"broken{i}-at-example.org"
            attrs = json.dumps({"city": "Köln", "since": 2019}) if i % 3 == 0 else ""
            w.writerow([email, f"{first} {last}", rnd.choice(["de", "en", "zh"]), "", attrs])


def phase(name: str, url: str, csv_path: Path, export_path: Path) -> None:
    """Runs in a child process: one import or export, then prints a JSON line."""
    from newsletter.db import Database
    from newsletter.subscribers.export import export
    from newsletter.subscribers.importing import import_file
    from newsletter.subscribers.lists import create_list

    if name == "import-insert":
        from newsletter.subscribers.bulk import Bulk

        Bulk.use_copy = False
    database = Database(url, base_dir=WORK)
    database.ensure_schema()
    start = time.perf_counter()
    if name in ("import", "import-insert", "reimport"):
        if name != "reimport":
            with database.session() as session:
                create_list(session, "news", "News")
        start = time.perf_counter()
        with database.session() as session:
            report = import_file(session, csv_path, list_slug="news", skip_invalid=True)
        result = {
            "rows": report.rows,
            "new": report.new,
            "rejected": len(report.rejected),
            "unchanged": report.unchanged,
        }
    else:
        with database.session() as session, export_path.open("w", encoding="utf-8") as out:
            result = {"rows": export(session, out, list_slug="news")}
    result["seconds"] = time.perf_counter() - start
    own, child = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    result["self_rss_mb"], result["child_rss_mb"] = own.ru_maxrss / 1024, child.ru_maxrss / 1024
    result["self_cpu"] = own.ru_utime + own.ru_stime
    result["child_cpu"] = child.ru_utime + child.ru_stime
    print(json.dumps(result))


def run_phase(name: str, url: str, csv_path: Path, export_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, url, str(csv_path), str(export_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database", help="an empty database's URL (instead of --backend)")
    parser.add_argument("--compare-copy", type=int, metavar="N", help="COPY vs INSERT, N rounds")
    parser.add_argument("--phase", nargs=4, metavar=("NAME", "URL", "CSV", "OUT"))
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(ROOT))
        name, url, csv_path, out = args.phase
        phase(name, url, Path(csv_path), Path(out))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    csv_path = WORK / f"subscribers-{args.rows}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {csv_path.name} in {time.perf_counter() - t:.1f} s")
    for p in WORK.glob("bench.sqlite*"):
        p.unlink()
    (WORK / "newsletter.key").unlink(missing_ok=True)
    if args.compare_copy:
        with cluster() as fresh:
            compare_copy(fresh, csv_path, args.compare_copy)
    elif args.database:
        measure(args.database, csv_path)
    elif args.backend == "sqlite":
        measure(f"sqlite:///{WORK / 'bench.sqlite'}", csv_path)
    else:
        with cluster() as fresh:
            measure(fresh("bench"), csv_path)


def compare_copy(fresh: Callable[[str], str], csv_path: Path, rounds: int) -> None:
    seconds: dict[str, list[float]] = {"import": [], "import-insert": []}
    for n in range(rounds):
        order = ["import", "import-insert"] if n % 2 == 0 else ["import-insert", "import"]
        for name in order:
            url = fresh(f"cmp{n}_{name.replace('-', '_')}")
            seconds[name].append(run_phase(name, url, csv_path, WORK / "export.csv")["seconds"])
    rows = sum(1 for _ in csv_path.open(encoding="utf-8")) - 1
    for name, label in (("import", "COPY"), ("import-insert", "INSERT")):
        times = seconds[name]
        print(
            f"{label:6} {rows:,} rows: min {min(times):.1f} s, "
            f"median {statistics.median(times):.1f} s ({', '.join(f'{t:.1f}' for t in times)})"
        )
    ratio = statistics.median(seconds["import-insert"]) / statistics.median(seconds["import"])
    print(f"COPY imports {ratio:.2f}x as fast as INSERT (medians of {rounds})")
    load = Path("/proc/loadavg")
    if load.exists():
        print(f"load average (1/5/15 min): {' '.join(load.read_text().split()[:3])}")


@contextmanager
def cluster() -> Iterator[Callable[[str], str]]:
    """A throwaway PostgreSQL cluster; yields ``fresh(name)`` → the URL of a new database."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_cluster import Cluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql")
    server = Cluster(bindir, durable=True)

    def fresh(name: str) -> str:
        with server.admin().connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        return server.url(name)

    try:
        server.start()
        yield fresh
    finally:
        server.stop()


def database_mb(url: str) -> float:
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            return Path(engine.url.database or "").stat().st_size / 1e6
        with engine.connect() as c:
            return c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() / 1e6
    finally:
        engine.dispose()


def measure(url: str, csv_path: Path) -> None:
    print(f"database: {sa.make_url(url).get_backend_name()}")
    export_path = WORK / "export.csv"
    size_mb = csv_path.stat().st_size / 1e6
    imp = run_phase("import", url, csv_path, export_path)
    rate = imp["rows"] / imp["seconds"]
    rss = max(imp["self_rss_mb"], imp["child_rss_mb"])
    print(
        f"import: {imp['rows']:,} rows ({size_mb:.0f} MB), {imp['new']:,} new, "
        f"{imp['rejected']} rejected, in {imp['seconds']:.1f} s = {rate:,.0f} rows/s "
        f"= {rate / BASELINE_ROWS_PER_S:.1f}× listmonk's 10k rows/s; peak RSS {rss:.0f} MB "
        f"(main {imp['self_rss_mb']:.0f}, reader {imp['child_rss_mb']:.0f}); "
        f"CPU main {imp['self_cpu']:.1f} s, reader {imp['child_cpu']:.1f} s; "
        f"target ≤ {TARGET_SECONDS:.0f} s and < {TARGET_RSS_MB:.0f} MB: "
        f"{'met' if imp['seconds'] <= TARGET_SECONDS and rss < TARGET_RSS_MB else 'MISSED'}"
    )
    again = run_phase("reimport", url, csv_path, export_path)
    rate = again["rows"] / again["seconds"]
    print(
        f"re-import of the same file (every row already there, all unchanged): "
        f"{again['seconds']:.1f} s = {rate:,.0f} rows/s; peak RSS "
        f"{max(again['self_rss_mb'], again['child_rss_mb']):.0f} MB"
    )
    exp = run_phase("export", url, csv_path, export_path)
    rate = exp["rows"] / exp["seconds"]
    print(
        f"export: {exp['rows']:,} rows in {exp['seconds']:.1f} s = {rate:,.0f} rows/s; "
        f"peak RSS {exp['self_rss_mb']:.0f} MB "
        f"({export_path.stat().st_size / 1e6:.0f} MB written)"
    )
    print(f"database size: {database_mb(url):.0f} MB")
    load = Path("/proc/loadavg")
    if load.exists():  # other work on the machine stretches wall-clock times
        print(f"load average (1/5/15 min): {' '.join(load.read_text().split()[:3])}")


if __name__ == "__main__":
    main()
