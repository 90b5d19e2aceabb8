"""Benchmark: the delivery log and the totals of a million-delivery campaign, and start-up.

    python bench/log.py                 # campaigns of 1,000,000 and 100,000 deliveries
    python bench/log.py --rows 200000   # a smaller first campaign

Builds (once, then reuses) a SQLite database under ``bench/_work/`` (git-ignored) with a
finished campaign of ``--rows`` deliveries and one of 100,000, in the shape a real send
leaves: 96 % sent with a Postfix reply and queue id, the rest deferred, bounced, failed,
unknown or skipped, some with earlier attempts, a few forgotten (no address). Then times
whole processes, 3 runs each, min / median:

* ``newsletter log 1 --format csv`` and ``--format json`` to /dev/null, as rows per
  second against the 100,000 rows/s target, next to the ``sqlite3`` shell writing the
  same columns as CSV (the reference: the database alone, no Python);
* ``newsletter --help`` against 0.25 s and ``newsletter campaigns show`` of each campaign
  against 0.5 s (1M) and 0.4 s (100k), next to ``python -c pass`` and to ``sqlite3``
  counting the same totals.

Each figure is wall time, the targets' measure; the CPU time (user + system) of the same
runs is printed beside it, because on a shared machine wall time also counts waiting
for a core.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
sys.path.insert(0, str(ROOT))

LOG_TARGET = 100_000  # rows/s
SHOW_TARGETS = {1: 0.5, 2: 0.4}  # seconds, by campaign id
HELP_TARGET = 0.25
STATUSES = ["sent"] * 96 + ["deferred", "bounced", "failed", "unknown"]


# As installed: the timed processes may write and use compiled bytecode even
# where the environment says not to (an editable install has none otherwise,
# and every run would compile the package from source).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def build(path: Path, rows: int) -> None:
    """A database with campaign 1 (``rows`` deliveries) and campaign 2 (100,000)."""
    from newsletter.db import Database

    tmp = path.with_suffix(".building")
    for stale in WORK.glob(tmp.name + "*"):
        stale.unlink()
    db = Database(f"sqlite:///{tmp}")
    db.upgrade()
    rnd = random.Random(9)
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite storage format
    with db.engine.begin() as c:
        raw = c.connection.driver_connection
        assert raw is not None
        for cid, n in ((1, rows), (2, 100_000)):
            raw.execute(
                "INSERT INTO campaign (id, uid, kind, issue_slug, list_slug, list_name, subject,"
                " html, text, language, status, recipients, transport, created_at, started_at,"
                " finished_at) VALUES (?, ?, 'campaign', '2021-07', 'isa', 'ISA-Newsletter',"
                " 'ISA-Newsletter Juli 2021', '<html></html>', 'text', 'de', 'finished', ?,"
                " 'smtp 127.0.0.1:25 (8 connections)', ?, ?, ?)",
                (cid, f"bench{cid}", n, *(start.strftime(stamp) for _ in range(3))),
            )
            batch = []
            for i in range(n):
                status = rnd.choice(STATUSES)
                queued = start + timedelta(microseconds=i)
                claimed = queued + timedelta(seconds=1 + i / 1000)
                finished = claimed + timedelta(milliseconds=rnd.randrange(1, 90))
                address = None if i % 5000 == 4999 else f"leser.{cid}.{i}@example.org"
                if status == "sent":
                    qid = f"4{rnd.getrandbits(40):010X}"
                    code, reply = 250, f"250 2.0.0 Ok: queued as {qid}"
                elif status == "deferred":
                    qid, code, reply = None, 451, "451 4.7.1 Greylisted, try again in 300 s"
                elif status == "unknown":
                    qid, code, reply = None, None, None
                else:
                    qid, code = None, 550
                    reply = f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
                attempts = 2 if status == "deferred" else 1
                history = (
                    f"{queued:%Y-%m-%dT%H:%M:%SZ} 451 4.7.1 Greylisted" if attempts > 1 else None
                )
                batch.append(
                    (
                        cid,
                        address,
                        f"Leser {i}" if address else None,
                        status,
                        attempts,
                        code,
                        reply,
                        qid,
                        f"bench{cid}.{i}@isa.example.org" if address else None,
                        history,
                        queued.strftime(stamp),
                        claimed.strftime(stamp),
                        None if status == "unknown" else finished.strftime(stamp),
                    )
                )
                if len(batch) == 20_000 or i == n - 1:
                    raw.executemany(
                        "INSERT INTO delivery (campaign_id, address, name, status, attempts,"
                        " smtp_code, smtp_reply, queue_id, message_id, history, queued_at,"
                        " claimed_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        batch,
                    )
                    batch = []
    db.checkpoint()
    db.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    tmp.rename(path)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(cmd, check=True, stdout=sink, cwd=WORK, env=ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


class Runs:
    """Repeated runs of one command: wall and CPU seconds, min and median."""

    def __init__(self, cmd: list[str], repeat: int) -> None:
        timed(cmd)  # warm-up: the page cache holds the database afterwards
        self.wall, self.cpu = zip(*(timed(cmd) for _ in range(repeat)), strict=True)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def __str__(self) -> str:
        w, c = self.wall, self.cpu
        return (
            f"{min(w):6.3f} {statistics.median(w):7.3f}   "
            f"cpu {min(c):6.3f} {statistics.median(c):7.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"log-{args.rows}.sqlite"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.rows)
        print(f"built {path.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s")
    script = Path(sys.executable).with_name("newsletter")
    ours = [str(script)] if script.exists() else [sys.executable, "-m", "newsletter"]
    ours += ["--database", f"sqlite:///{path}"]
    sqlite3 = shutil.which("sqlite3")
    columns = (
        "id, address, status, attempts, smtp_code, smtp_reply, queue_id, message_id,"
        " queued_at, claimed_at, finished_at"
    )

    print(f"\nlog of campaign 1, {args.rows:,} rows, {args.repeat} runs, min / median seconds:")
    ref = None
    if sqlite3:
        sql = f"SELECT {columns} FROM delivery WHERE campaign_id = 1 ORDER BY id"
        ref = Runs([sqlite3, "-csv", "-header", str(path), sql], args.repeat)
        label = "sqlite3 -csv, same columns (reference)"
        print(f"  {label:40} {ref}   {args.rows / ref.median:9,.0f} rows/s")
    for form in ("csv", "json"):
        t = Runs([*ours, "log", "1", "--format", form], args.repeat)
        rate = args.rows / t.median
        verdict = "PASS" if rate >= LOG_TARGET else "FAIL"
        label = f"newsletter log 1 --format {form}"
        versus = f", {ref.median / t.median:.2f}x sqlite3's speed" if ref else ""
        print(f"  {label:40} {t}   {rate:9,.0f} rows/s ({verdict}: ≥ {LOG_TARGET:,}{versus})")

    print(f"\nstart-up and campaigns show, {args.repeat} runs, min / median seconds:")
    print(f"  {'python -c pass (start-up reference)':40} {Runs([sys.executable, '-c', 'pass'], 3)}")
    t = Runs([*ours, "--help"], args.repeat)
    verdict = "PASS" if t.median <= HELP_TARGET else "FAIL"
    print(f"  {'newsletter --help':40} {t}   ({verdict}: target ≤ {HELP_TARGET} s)")
    for cid, target in SHOW_TARGETS.items():
        n = args.rows if cid == 1 else 100_000
        t = Runs([*ours, "campaigns", "show", str(cid)], args.repeat)
        verdict = "PASS" if t.median <= target else "FAIL"
        label = f"newsletter campaigns show {cid} ({n:,})"
        print(f"  {label:40} {t}   ({verdict}: target ≤ {target} s)")
        if sqlite3:
            sql = f"SELECT status, count(*) FROM delivery WHERE campaign_id = {cid} GROUP BY status"
            print(f"  {'  sqlite3, the same totals':40} {Runs([sqlite3, str(path), sql], 3)}")
    print(f"\nload average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
