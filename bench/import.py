"""Benchmark: import and export a million subscribers.

    python bench/import.py              # 1,000,000 rows
    python bench/import.py --rows 100000

Generates a CSV in our own format under ``bench/_work/`` (git-ignored) with
realistic variety: names in German, English and Chinese, attributes on every
third row, 2 % of addresses built from first names (Jürgen, Søren … take
email-validator's slow path) and one invalid row per 100,000, then imports it into a fresh SQLite
database with ``--skip-invalid`` and exports it again. Each phase runs in its
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
import subprocess
import sys
import time
from pathlib import Path

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


def phase(name: str, db: Path, csv_path: Path, export_path: Path) -> None:
    """Runs in a child process: one import or export, then prints a JSON line."""
    from newsletter.db import Database
    from newsletter.subscribers.export import export
    from newsletter.subscribers.importing import import_file
    from newsletter.subscribers.lists import create_list

    database = Database(f"sqlite:///{db}")
    database.ensure_schema()
    start = time.perf_counter()
    if name in ("import", "reimport"):
        if name == "import":
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


def run_phase(name: str, db: Path, csv_path: Path, export_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(db), str(csv_path), str(export_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--phase", nargs=4, metavar=("NAME", "DB", "CSV", "OUT"))
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(ROOT))
        name, db, csv_path, out = args.phase
        phase(name, Path(db), Path(csv_path), Path(out))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    csv_path = WORK / f"subscribers-{args.rows}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {csv_path.name} in {time.perf_counter() - t:.1f} s")
    db = WORK / "bench.sqlite"
    for p in WORK.glob("bench.sqlite*"):
        p.unlink()
    export_path = WORK / "export.csv"
    size_mb = csv_path.stat().st_size / 1e6
    imp = run_phase("import", db, csv_path, export_path)
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
    again = run_phase("reimport", db, csv_path, export_path)
    rate = again["rows"] / again["seconds"]
    print(
        f"re-import of the same file (every row already there, all unchanged): "
        f"{again['seconds']:.1f} s = {rate:,.0f} rows/s; peak RSS "
        f"{max(again['self_rss_mb'], again['child_rss_mb']):.0f} MB"
    )
    exp = run_phase("export", db, csv_path, export_path)
    rate = exp["rows"] / exp["seconds"]
    print(
        f"export: {exp['rows']:,} rows in {exp['seconds']:.1f} s = {rate:,.0f} rows/s; "
        f"peak RSS {exp['self_rss_mb']:.0f} MB "
        f"({export_path.stat().st_size / 1e6:.0f} MB written)"
    )
    print(f"database: {db.stat().st_size / 1e6:.0f} MB")
    load = Path("/proc/loadavg")
    if load.exists():  # other work on the machine stretches wall-clock times
        print(f"load average (1/5/15 min): {' '.join(load.read_text().split()[:3])}")


if __name__ == "__main__":
    main()
