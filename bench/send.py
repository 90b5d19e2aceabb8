"""Send benchmark: our whole pipeline against Postfix's smtp-source, and memory at 100k.

Runs Postfix ``smtp-sink`` on loopback, then for 1 and 8 connections:

* ``smtp-source`` sends N copies of one rendered ISA issue (C tool, no database);
* ``newsletter`` sends a campaign of N recipients with the same issue: claims,
  per-recipient compose and outcome rows in SQLite included;

and prints our throughput as a ratio of smtp-source's (target >= 0.5).
Then a 100,000-recipient campaign to the sink: RSS after 10k and 100k
messages (target: peak < 200 MB, flat in N) and database bytes per delivery.

Needs Postfix's tools: ``apt-get install postfix`` (no configuration needed).
Not part of the test suite. Usage: ``python bench/send.py [-n 3000] [--big 100000]``
(``-n 0`` skips the throughput runs, ``--big 0`` the memory run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.campaigns import store  # noqa: E402
from newsletter.campaigns.composer import message_template  # noqa: E402
from newsletter.campaigns.sender import Progress, run_campaign  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.db import Database, hash_with  # noqa: E402
from newsletter.issue.files import issue_files  # noqa: E402
from newsletter.issue.load import load_issue  # noqa: E402
from newsletter.message.compose import Recipient  # noqa: E402
from newsletter.render import render_issue  # noqa: E402
from newsletter.subscribers.lists import create_list  # noqa: E402
from newsletter.subscribers.tables import Subscriber, Subscription  # noqa: E402
from newsletter.transports.smtp import SmtpTransport  # noqa: E402

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_sink(port: int) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1000"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return sink
        except OSError:
            time.sleep(0.05)
    raise SystemExit("smtp-sink did not start")


def make_db(workdir: Path, settings, n: int) -> Database:  # type: ignore[no-untyped-def]
    db = Database.from_settings(replace(settings, database_url=f"sqlite:///{workdir / 'b.sqlite'}"))
    now = datetime.now(UTC)
    secret = db.secret
    with db.session() as s:
        ml = create_list(s, "isa", "ISA-Newsletter")
        for start in range(0, n, 10_000):
            rows = []
            for i in range(start, min(n, start + 10_000)):
                a = f"leser{i}@example.com"
                rows.append(
                    {
                        "email": a,
                        "key": a,
                        "key_hash": hash_with(secret, a),
                        "name": f"Leser {i}",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            s.execute(sa.insert(Subscriber.__table__), rows)  # type: ignore[attr-defined]
        s.execute(
            sa.insert(Subscription.__table__),  # type: ignore[attr-defined]
            [
                {
                    "subscriber_id": i + 1,
                    "list_id": ml.id,
                    "status": "confirmed",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
    return db


def ours(settings, rendered, port: int, n: int, connections: int) -> float:  # type: ignore[no-untyped-def]
    work = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    try:
        db = make_db(work, settings, n)
        with db.session() as s:
            cid = store.create_campaign(s, rendered, "isa").id
        transport = SmtpTransport("127.0.0.1", port, connections=connections, timeout=30)
        started = time.perf_counter()
        result = run_campaign(db, settings, cid, transport)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        assert result.counts == {"sent": n}, result.counts
        db.dispose()
        return n / elapsed
    finally:
        shutil.rmtree(work)


def theirs(message: Path, port: int, n: int, connections: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            SOURCE,
            "-d",
            "-s",
            str(connections),
            "-m",
            str(n),
            "-F",
            str(message),
            "-f",
            "newsletter@example.org",
            "-t",
            "leser@example.com",
            f"127.0.0.1:{port}",
        ],
        check=True,
    )
    return n / (time.perf_counter() - started)


def big(settings, rendered, port: int, n: int) -> None:  # type: ignore[no-untyped-def]
    work = Path(tempfile.mkdtemp(prefix="nl-bench-big-"))
    try:
        db = make_db(work, settings, n)
        path = work / "b.sqlite"
        db.checkpoint()
        before = path.stat().st_size
        t0 = time.perf_counter()
        with db.session() as s:
            cid = store.create_campaign(s, rendered, "isa").id
        created = time.perf_counter() - t0
        samples: dict[int, tuple[float, float]] = {0: rss_mb()}
        marks = [n // 10, n]

        def watch(p: Progress) -> None:
            while marks and p.done >= marks[0]:
                samples[marks.pop(0)] = rss_mb()

        transport = SmtpTransport("127.0.0.1", port, connections=8, timeout=30)
        t0 = time.perf_counter()
        result = run_campaign(db, settings, cid, transport, on_progress=watch)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t0
        samples.setdefault(n, rss_mb())
        db.checkpoint()
        per_row = (path.stat().st_size - before) / n
        print(
            f"\n{n:,}-recipient campaign: created in {created:.1f} s, sent in {elapsed:.0f} s "
            f"({n / elapsed:,.0f} msg/s, 8 connections), {result.counts}"
        )
        for k, (cur, peak) in sorted(samples.items()):
            what = f"after {k:>7,} messages" if k else "before sending   "
            print(f"  RSS {what}: {cur:6.1f} MB (peak so far {peak:.1f} MB)")
        print(
            f"  database growth per delivery row (incl. indexes, campaign snapshot): "
            f"{per_row:.0f} bytes"
        )
        db.dispose()
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="messages per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--big", type=int, default=100_000, help="recipients of the memory run")
    args = parser.parse_args()
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("needs Postfix's smtp-sink and smtp-source: apt-get install postfix")
    settings = load_settings(ROOT / "newsletter.toml")
    issue = issue_files(ROOT / "issues")[-1]
    rendered = render_issue(load_issue(issue), settings)
    template = message_template(settings, _FakeCampaign(rendered))  # type: ignore[arg-type]
    # smtp-source sends the same bytes: one composed message of this issue
    sample = template.compose(
        Recipient("leser@example.com", "Leser", "1-1-" + "a" * 24, "bench.1@example.org")
    )
    print_compose_cost(template)
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            f.write(sample.replace(b"\r\n", b"\n"))
            f.flush()
            print(
                f"Issue {issue.name}: {len(sample):,} bytes per message, {args.n:,} messages "
                f"per run, smtp-sink on 127.0.0.1:{port}"
            )
            print(f"{'connections':>11} {'smtp-source':>12} {'newsletter':>11} {'ratio':>6}")
            for connections in (1, 8) if args.n else ():
                # alternate rounds and take medians: the machine is shared and noisy
                them, us = [], []
                for _ in range(args.rounds):
                    them.append(theirs(Path(f.name), port, args.n, connections))
                    us.append(ours(settings, rendered, port, args.n, connections))
                a, b = statistics.median(them), statistics.median(us)
                print(f"{connections:>11} {a:>8,.0f}/s {b:>7,.0f}/s {b / a:>6.2f}")
        if args.big:
            big(settings, rendered, port, args.big)
    finally:
        sink.terminate()
        sink.wait()


def print_compose_cost(template, n: int = 20_000) -> None:  # type: ignore[no-untyped-def]
    """Per-recipient composing alone (render once, substitute per recipient): target ≤ 100 µs."""
    people = [
        Recipient(f"user{i}@example.com", f"Jörg Müller {i}", f"{i}-1-" + "b" * 24, f"b.{i}@x.org")
        for i in range(n)
    ]
    start = time.perf_counter()
    for person in people:
        template.compose(person)
    per = (time.perf_counter() - start) / n * 1e6
    print(f"compose: {per:.1f} µs per message over {n:,} recipients (target ≤ 100 µs)")


class _FakeCampaign:
    def __init__(self, rendered):  # type: ignore[no-untyped-def]
        self.subject, self.html, self.text = rendered.subject, rendered.html, rendered.text
        self.list_slug, self.list_name, self.language = "isa", "ISA-Newsletter", rendered.language


if __name__ == "__main__":
    main()
