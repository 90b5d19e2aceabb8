"""Send benchmark: our whole pipeline against Postfix's smtp-source, and memory at 100k/1M.

Runs Postfix ``smtp-sink`` on loopback (and, for ``--backends postgresql``, a
PostgreSQL cluster of its own with default durability, ``tests/pg_cluster.py``),
then for 1 and 8 connections:

* ``smtp-source -d`` sends N copies of one rendered ISA issue (C tool, no database);
* ``newsletter`` sends a campaign of N recipients with the same issue, once
  per backend (the single-process sender, in this process): claims,
  per-recipient compose, the ``data_at`` marks and outcome rows included;

alternating, and prints every round's rates, ratio to smtp-source and CPU
seconds per 1,000 messages (user + system: ``getrusage`` of smtp-source as a
child, of this process's threads for ours), then per backend the min/median
of the rounds and the PostgreSQL sender's CPU against SQLite's (target:
<= 1.2x). Then the memory runs: ``newsletter campaigns send`` as a
process of its own (as an operator runs it) on a 100,000-recipient campaign
into the sink over 8 connections and on a 1,000,000-recipient one with the
dry-run transport; its RSS is sampled from /proc while it runs (target: peak
<= 70 MB, flat in N), and the database bytes per delivery are printed.

Needs Postfix's tools: ``apt-get install postfix`` (no configuration needed).
Not part of the test suite. Usage: ``python bench/send.py [-n 20000]
[--backends sqlite,postgresql] [--connections 1,8] [--big 100000] [--huge 1000000]``
(``-n 0`` skips the throughput runs, ``--big 0`` / ``--huge 0`` the memory runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pg_cluster import durable_cluster  # noqa: E402

from newsletter.campaigns import store  # noqa: E402
from newsletter.campaigns.composer import message_template  # noqa: E402
from newsletter.campaigns.sender import run_campaign  # noqa: E402
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
    fill(db, n)
    return db


_databases = 0


def make_pg_db(server, settings, n: int) -> tuple[Database, object]:  # type: ignore[no-untyped-def]
    """A new database in ``server`` with ``n`` subscribers; and the settings that use it."""
    global _databases
    _databases += 1
    name = f"send{_databases}"
    with server.admin().connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    settings = replace(settings, database_url=server.url(name))
    db = Database.from_settings(settings, create=True)
    db.ensure_schema()
    fill(db, n)
    return db, settings


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, all its threads (what getrusage
    gives the process itself), from /proc: for a worker that outlives the measured run."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(db: Database, n: int) -> None:
    """``n`` confirmed subscribers of list ``isa``, inserted 10,000 at a time.

    The subscription rows take the ids the database returns, so this serves SQLite and
    PostgreSQL (``bench/workers.py``) alike.
    """
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
            ids = s.execute(
                sa.insert(Subscriber.__table__).returning(Subscriber.__table__.c.id),  # type: ignore[attr-defined]
                rows,
            ).scalars()
            s.execute(
                sa.insert(Subscription.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "subscriber_id": i,
                        "list_id": ml.id,
                        "status": "confirmed",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )


def ours(  # type: ignore[no-untyped-def]
    settings, rendered, port: int, n: int, connections: int, server=None
) -> tuple[float, float]:
    """Messages per second, and CPU seconds (all threads) per 1,000 messages.

    On SQLite, or on PostgreSQL in ``server`` when it is given.
    """
    work = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    try:
        if server is None:
            db = make_db(work, settings, n)
        else:
            db, settings = make_pg_db(server, settings, n)
        with db.session() as s:
            cid = store.create_campaign(s, rendered, "isa").id
        transport = SmtpTransport("127.0.0.1", port, connections=connections, timeout=30)
        started, cpu = time.perf_counter(), own_cpu()
        result = run_campaign(db, settings, cid, transport)  # type: ignore[arg-type]
        elapsed, cpu = time.perf_counter() - started, own_cpu() - cpu
        assert result.counts == {"sent": n}, result.counts
        db.dispose()
        return n / elapsed, cpu / n * 1000
    finally:
        shutil.rmtree(work)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def theirs(message: Path, port: int, n: int, connections: int) -> tuple[float, float]:
    """smtp-source's messages per second, and its CPU seconds per 1,000 messages."""
    started, cpu = time.perf_counter(), children_cpu()
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
    return n / (time.perf_counter() - started), (children_cpu() - cpu) / n * 1000


def peak_of(cmd: list[str], cwd: Path) -> tuple[float, list[tuple[int, float]], float, str]:
    """Run ``cmd``; its peak RSS (VmHWM), RSS samples (second, MB), wall time and stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    status = Path(f"/proc/{proc.pid}/status")
    peak, samples, next_sample = 0.0, [], 0.0
    while proc.poll() is None:
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            break
        if "VmHWM" not in fields:  # exited, not yet reaped
            break
        peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
        now = time.perf_counter() - started
        if now >= next_sample:
            samples.append((int(now), int(fields["VmRSS"].split()[0]) / 1024))
            next_sample = now + max(1.0, now / 8)
        time.sleep(0.01)
    out = proc.communicate()[0]
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {out}")
    return peak, samples, time.perf_counter() - started, out


def big(settings, rendered, port: int, n: int, transport: str) -> None:  # type: ignore[no-untyped-def]
    """One campaign of ``n`` sent by ``newsletter campaigns send`` in a process of its own."""
    work = Path(tempfile.mkdtemp(prefix="nl-bench-big-"))
    try:
        t0 = time.perf_counter()
        db = make_db(work, settings, n)
        path = work / "b.sqlite"
        db.checkpoint()
        before = path.stat().st_size
        with db.session() as s:
            cid = store.create_campaign(s, rendered, "isa").id
        db.dispose()
        created = time.perf_counter() - t0
        config = work / "newsletter.toml"
        smtp = f'[smtp]\nhost = "127.0.0.1"\nport = {port}\npool = 8\ntimeout = 30\n'
        config.write_text(
            f'[database]\nurl = "sqlite:///{path}"\n[delivery]\ntransport = "{transport}"\n'
            + (smtp if transport == "smtp" else ""),
            encoding="utf-8",
        )
        cmd = [sys.executable, "-m", "newsletter", "--config", str(config)]
        peak, samples, elapsed, out = peak_of([*cmd, "campaigns", "send", str(cid), "--yes"], work)
        how = "smtp-sink, 8 connections" if transport == "smtp" else "dry-run transport"
        print(
            f"\n{n:,}-recipient campaign ({how}): set up in {created:.0f} s, "
            f"sent in {elapsed:.0f} s ({n / elapsed:,.0f} msg/s): {out.strip()}"
        )
        print(f"  send process peak RSS: {peak:.1f} MB (target <= 70 MB)")
        print("  RSS over time (s: MB): " + ", ".join(f"{t}: {m:.1f}" for t, m in samples))
        db = Database(f"sqlite:///{path}")
        db.checkpoint()
        db.dispose()
        per_row = (path.stat().st_size - before) / n
        print(
            f"  database growth per delivery row (incl. indexes, campaign snapshot): "
            f"{per_row:.0f} bytes"
        )
    finally:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="messages per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--connections", default="1,8", help="comma-separated")
    parser.add_argument("--big", type=int, default=100_000, help="recipients, smtp memory run")
    parser.add_argument("--huge", type=int, default=1_000_000, help="recipients, dry-run run")
    args = parser.parse_args()
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("needs Postfix's smtp-sink and smtp-source: apt-get install postfix")
    backends = [b for b in args.backends.split(",") if b]
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
                f"per run, smtp-sink on 127.0.0.1:{port}; load average {load()}"
            )
            if args.n:
                with durable_cluster() if "postgresql" in backends else _no_server() as server:
                    for c in (int(x) for x in args.connections.split(",")):
                        throughput(settings, rendered, port, Path(f.name), args, c, server)
        if args.big:
            big(settings, rendered, port, args.big, "smtp")
        if args.huge:
            big(settings, rendered, port, args.huge, "dry-run")
        print(f"load average (1/5/15 min): {load()}")
    finally:
        sink.terminate()
        sink.wait()


@contextmanager
def _no_server() -> Iterator[None]:
    yield None


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def throughput(  # type: ignore[no-untyped-def]
    settings, rendered, port: int, message: Path, args, conns: int, server
) -> None:
    """Alternating rounds of smtp-source and of our sender on each backend (``conns``
    connections each).

    Prints each round's rate, ratio to smtp-source and CPU seconds per 1,000 messages,
    then per backend the min/median of the rounds.
    """
    backends = [b for b in args.backends.split(",") if b]
    print(f"\n{conns} connection(s); msg/s, ratio to smtp-source, CPU s per 1,000 messages")
    print("{:>5} {:>12} {:>9} {:>6} {:>8}  {}".format(
        "round", "sender", "msg/s", "ratio", "CPU s/k", "load"))  # fmt: skip
    rates: dict[str, list[float]] = {b: [] for b in ["smtp-source", *backends]}
    cpus: dict[str, list[float]] = {b: [] for b in rates}
    ratios: dict[str, list[float]] = {b: [] for b in backends}
    for r in range(1, args.rounds + 1):
        src, src_cpu = theirs(message, port, args.n, conns)
        rates["smtp-source"].append(src)
        cpus["smtp-source"].append(src_cpu)
        print(f"{r:>5} {'smtp-source':>12} {src:>9,.0f} {'':>6} {src_cpu:>8.3f}  {load()}")
        for b in backends:
            rate, cpu = ours(
                settings, rendered, port, args.n, conns, server if b != "sqlite" else None
            )
            rates[b].append(rate)
            cpus[b].append(cpu)
            ratios[b].append(rate / src)
            print(f"{r:>5} {b:>12} {rate:>9,.0f} {rate / src:>6.2f} {cpu:>8.3f}  {load()}")
    print(f"{conns} connection(s), {args.rounds} rounds (min / median):")
    for b, values in rates.items():
        used = cpus[b]
        ratio = (
            f"; ratio to smtp-source {min(ratios[b]):.2f} / {statistics.median(ratios[b]):.2f}"
            if b in ratios
            else ""
        )
        print(
            f"  {b:>12}: {min(values):,.0f} / {statistics.median(values):,.0f} msg/s; "
            f"CPU {min(used):.3f} / {statistics.median(used):.3f} s per 1,000{ratio}"
        )
    if "sqlite" in cpus and "postgresql" in cpus:
        per_round = [p / q for p, q in zip(cpus["postgresql"], cpus["sqlite"], strict=True)]
        print(
            f"  PostgreSQL sender's CPU per message / SQLite's: median of rounds "
            f"{statistics.median(per_round):.2f} (min {min(per_round):.2f}, "
            f"max {max(per_round):.2f}; target <= 1.2)"
        )


def print_compose_cost(template, n: int = 20_000) -> None:  # type: ignore[no-untyped-def]
    """Per-recipient composing alone (render once, substitute per recipient): target ≤ 100 µs."""
    people = [
        Recipient(f"user{i}@example.com", f"Jörg Müller {i}", f"{i}-1-" + "b" * 24, f"b.{i}@x.org")
        for i in range(n)
    ]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for person in people:
            template.compose(person)
        runs.append((time.perf_counter() - start) / n * 1e6)
    low, mid = min(runs), statistics.median(runs)
    print(
        f"compose: {low:.1f} µs per message (median {mid:.1f} of 3 runs) over {n:,} recipients, "
        f"{low / 100:.2f}× the 100 µs target"
    )


class _FakeCampaign:
    def __init__(self, rendered):  # type: ignore[no-untyped-def]
        self.subject, self.html, self.text = rendered.subject, rendered.html, rendered.text
        self.list_slug, self.list_name, self.language = "isa", "ISA-Newsletter", rendered.language
        self.uid = "bench"  # the campaign's id in its headers (List-Id, Feedback-ID)


if __name__ == "__main__":
    main()
