"""Workers benchmark: 1, 2 and 4 `newsletter worker` processes against Postfix's smtp-source.

Starts a PostgreSQL cluster of its own (``tests/pg_cluster.py``, default
durability) and Postfix ``smtp-sink`` on loopback. For 1, 2 and 4 workers,
each with ``--connections`` SMTP connections:

* ``newsletter``: a campaign of ``-n`` recipients (the rendered ISA issue of
  July 2021) is enqueued with ``campaigns send --enqueue`` while the workers
  are idle, and timed from the enqueue until the campaign is finished (claims,
  per-recipient compose, outcomes in the delivery log, the jobs, all included);
* ``smtp-source``: the same number of copies of one composed message over
  the same total number of connections (C tool, no database);

alternating, ``--rounds`` times, printing every round's ratio and the
min/median. Then one campaign of ``--huge`` recipients (1,000,000) sent by
``--huge-workers`` workers into the sink: enqueue time, send time, each
worker's peak RSS (target: <= 100 MB, flat in the number of recipients and of
workers) and the delivery log's bytes per row on PostgreSQL.

Needs Postfix's tools (``apt-get install postfix``) and PostgreSQL's server
(``apt-get install postgresql``). Not part of the test suite. Usage:
``python bench/workers.py [-n 20000] [--huge 1000000] [--huge-workers 4] [--claim-window 16]``
(``--huge 0`` skips the big run).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from pg_cluster import durable_cluster  # noqa: E402
from send import (  # noqa: E402
    SINK,
    SOURCE,
    children_cpu,
    fill,
    free_port,
    own_cpu,
    process_cpu,
    start_sink,
)

from newsletter.campaigns import store  # noqa: E402
from newsletter.campaigns.composer import message_template  # noqa: E402
from newsletter.campaigns.sender import run_campaign  # noqa: E402
from newsletter.config import Delivery, Workers, load_settings  # noqa: E402
from newsletter.db import Database  # noqa: E402
from newsletter.issue.load import load_issue  # noqa: E402
from newsletter.message.compose import Recipient  # noqa: E402
from newsletter.render import render_issue  # noqa: E402
from newsletter.transports.smtp import SmtpTransport  # noqa: E402
from newsletter.workers import batches  # noqa: E402

CONNECTIONS = 2  # per worker


class Setup:
    """One database with ``n`` subscribers, a config for the CLI and the workers."""

    def __init__(
        self, server: Any, name: str, n: int, port: int, work: Path, rendered: Any, window: int
    ) -> None:
        with server.admin().connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        self.url = server.url(name)
        self.config = work / f"{name}.toml"
        self.config.write_text(
            f'[database]\nurl = "{self.url}"\n'
            f'[delivery]\ntransport = "smtp"\nclaim_window = {window}\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\npool = {CONNECTIONS}\ntimeout = 30\n'
            "[workers]\npoll_seconds = 1\n",
            encoding="utf-8",
        )
        settings = load_settings(self.config)
        self.settings = settings
        self.port = port
        self.db = Database.from_settings(settings, create=True)
        self.db.ensure_schema()
        fill(self.db, n)
        self.rendered = rendered
        self.n = n

    def campaign(self) -> int:
        with self.db.session() as s:
            c = store.create_campaign(s, self.rendered, "isa", again=True)
            assert c.id is not None
            return c.id

    def single(self) -> tuple[float, float]:
        """The single-process sender (``campaigns send``'s loop, in this process) on a new
        campaign over as many connections as one worker: msg/s and CPU s per 1,000."""
        cid = self.campaign()
        transport = SmtpTransport("127.0.0.1", self.port, connections=CONNECTIONS, timeout=30)
        started, cpu = time.perf_counter(), own_cpu()
        result = run_campaign(self.db, self.settings, cid, transport)  # type: ignore[arg-type]
        elapsed, cpu = time.perf_counter() - started, own_cpu() - cpu
        assert result.counts == {"sent": self.n}, result.counts
        return self.n / elapsed, cpu / self.n * 1000

    def enqueue(self, cid: int, size: int) -> float:
        started = time.perf_counter()
        with self.db.session() as s:
            batches.enqueue(s, cid, queue="newsletter", size=size, transport="workers")
        return time.perf_counter() - started

    def state(self, cid: int) -> str:
        with self.db.session() as s:
            return store.summarize(s, store.get_campaign(s, cid)).state

    def counts(self, cid: int) -> dict[str, int]:
        with self.db.session() as s:
            return store.status_counts(s, cid)


@contextmanager
def workers(config: Path, n: int, logs: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "newsletter", "--config", str(config), "worker"]
    procs = []
    for i in range(n):
        out = open(logs / f"worker{i}.log", "w")  # noqa: SIM115
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))
    time.sleep(2.5)  # started and idle: their start-up is not part of the send time
    try:
        yield procs
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def send_time(
    setup: Setup, cid: int, *, procs: list, size: int, samples: dict | None = None
) -> tuple[float, float]:
    """Seconds to enqueue, and from the start of the enqueue until the campaign is finished."""
    started = time.perf_counter()
    enqueued = setup.enqueue(cid, size)
    next_sample = 0.0
    while not setup.state(cid).startswith("finished"):
        now = time.perf_counter() - started
        if samples is not None and now >= next_sample:
            samples[int(now)] = [peak_rss_mb(p.pid) for p in procs]
            next_sample = now + max(5.0, now / 8)
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a worker died")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    counts = setup.counts(cid)
    assert counts == {"sent": setup.n}, counts
    return enqueued, elapsed


def theirs(message: Path, port: int, n: int, connections: int) -> tuple[float, float]:
    """smtp-source's msg/s and CPU s per 1,000 messages (getrusage of the child)."""
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        [SOURCE, "-d", "-s", str(connections), "-m", str(n), "-F", str(message),
         "-f", "newsletter@example.org", "-t", "leser@example.com", f"127.0.0.1:{port}"],
        check=True,
    )  # fmt: skip
    return n / (time.perf_counter() - started), (children_cpu() - cpu) / n * 1000


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="recipients per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="[workers] batch_size (default: the setting's)"
    )
    parser.add_argument("--huge", type=int, default=1_000_000)
    parser.add_argument("--huge-workers", type=int, default=4)
    parser.add_argument(
        "--claim-window",
        type=int,
        default=Delivery().claim_window,
        help="[delivery] claim_window: 1 bounds a dead worker's unknowns by its connections",
    )
    args = parser.parse_args()
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("needs Postfix's smtp-sink and smtp-source: apt-get install postfix")
    settings = load_settings(ROOT / "newsletter.toml")
    rendered = render_issue(load_issue(ROOT / "issues" / "2021-07.yaml"), settings)
    work = Path(tempfile.mkdtemp(prefix="nl-bench-workers-"))
    message = work / "message.eml"
    template = message_template(settings, _Snap(rendered))  # type: ignore[arg-type]
    sample = template.compose(
        Recipient("leser@example.com", "Leser", "1-1-" + "a" * 24, "bench.1@example.org")
    )
    message.write_bytes(sample.replace(b"\r\n", b"\n"))  # smtp-source adds the CRs
    port = free_port()
    sink = start_sink(port)
    print(f"load average before: {load()}; smtp-sink on 127.0.0.1:{port}")
    try:
        with durable_cluster() as server:
            if args.n:
                throughput(server, rendered, port, work, message, args)
            if args.huge:
                huge(server, rendered, port, work, args.huge, args.huge_workers, args.claim_window)
    finally:
        sink.terminate()
        sink.wait()
    print(f"load average after: {load()}")


def throughput(server, rendered, port: int, work: Path, message: Path, args) -> None:  # type: ignore[no-untyped-def]
    setup = Setup(server, "through", args.n, port, work, rendered, args.claim_window)
    size = args.batch_size or Workers().batch_size
    print(
        f"\n{args.n:,} recipients per run, {CONNECTIONS} connections per worker, "
        f"batches of {size:,}, claim_window {args.claim_window}; msg/s; CPU s per 1,000 "
        "messages (smtp-source: getrusage of the child; a worker: its process from /proc; "
        "the single-process sender: this process)"
    )
    heads = (
        "workers",
        "conns",
        "round",
        "smtp-source",
        "newsletter",
        "ratio",
        "CPU s/k",
        "src CPU",
    )
    print(" ".join(f"{h:>{len(h)}}" for h in heads) + "  load")
    for n in (int(x) for x in args.workers.split(",")):
        ratios, ours_rates, theirs_rates, cpus, single, single_cpu = [], [], [], [], [], []
        logs = work / f"logs{n}"
        logs.mkdir()
        with workers(setup.config, n, logs) as procs:
            for r in range(args.rounds):
                src, src_cpu = theirs(message, port, args.n, n * CONNECTIONS)
                cid = setup.campaign()
                before = sum(process_cpu(p.pid) for p in procs)
                rate = args.n / send_time(setup, cid, procs=procs, size=size)[1]
                cpu = (sum(process_cpu(p.pid) for p in procs) - before) / args.n * 1000
                ratios.append(rate / src)
                ours_rates.append(rate)
                theirs_rates.append(src)
                cpus.append(cpu)
                print(
                    f"{n:>7} {n * CONNECTIONS:>5} {r + 1:>5} {src:>11,.0f} {rate:>10,.0f} "
                    f"{rate / src:>5.2f} {cpu:>7.3f} {src_cpu:>7.3f}  {load()}"
                )
                if n == 1:  # the same work by the single-process sender, alternating
                    one, one_cpu = setup.single()
                    single.append(one)
                    single_cpu.append(one_cpu)
                    print(
                        f"{'sender':>7} {CONNECTIONS:>5} {r + 1:>5} {'':>11} {one:>10,.0f} "
                        f"{one / src:>5.2f} {one_cpu:>7.3f} {'':>7}  {load()}"
                    )
            peaks = [peak_rss_mb(p.pid) for p in procs]
        print(
            f"{n:>7} workers: newsletter median {statistics.median(ours_rates):,.0f} msg/s "
            f"(min {min(ours_rates):,.0f}), smtp-source median "
            f"{statistics.median(theirs_rates):,.0f}; ratio median "
            f"{statistics.median(ratios):.2f}, min {min(ratios):.2f}; CPU s per 1,000 "
            f"median {statistics.median(cpus):.3f} (min {min(cpus):.3f}); "
            f"peak RSS per worker {', '.join(f'{p:.0f}' for p in peaks)} MB; load {load()}"
        )
        if single:
            to_single = [w / o for w, o in zip(ours_rates, single, strict=True)]
            print(
                f"  single-process sender on PostgreSQL: median {statistics.median(single):,.0f} "
                f"msg/s (min {min(single):,.0f}), CPU s per 1,000 median "
                f"{statistics.median(single_cpu):.3f} (min {min(single_cpu):.3f}); one worker / "
                f"the sender, round by round: {' '.join(f'{x:.2f}' for x in to_single)}, "
                f"median {statistics.median(to_single):.2f} (target >= 0.9)"
            )
    setup.db.dispose()


def huge(server, rendered, port: int, work: Path, n: int, count: int, window: int) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    setup = Setup(server, "huge", n, port, work, rendered, window)
    filled = time.perf_counter() - t0
    t0 = time.perf_counter()
    cid = setup.campaign()
    created = time.perf_counter() - t0
    with setup.db.engine.connect() as c:
        before = c.exec_driver_sql("SELECT pg_total_relation_size('delivery')").scalar()
    logs = work / "logs-huge"
    logs.mkdir()
    samples: dict[int, list[float]] = {}
    with workers(setup.config, count, logs) as procs:
        per_batch = Workers().batch_size
        enqueued, elapsed = send_time(setup, cid, procs=procs, size=per_batch, samples=samples)
        peaks = [peak_rss_mb(p.pid) for p in procs]
    with setup.db.engine.connect() as c:
        size = c.exec_driver_sql("SELECT pg_total_relation_size('delivery')").scalar()
        heap = c.exec_driver_sql("SELECT pg_relation_size('delivery')").scalar()
    print(f"\n{n:,}-recipient campaign, {count} workers x {CONNECTIONS} connections into smtp-sink")
    print(
        f"  subscribers inserted in {filled:.0f} s; campaign created (snapshot) in {created:.1f} s"
    )
    print(f"  enqueue ({n // 1000:,} batches, jobs deferred in the same transaction): "
          f"{enqueued:.2f} s")  # fmt: skip
    print(f"  send time: {elapsed:.0f} s ({n / elapsed:,.0f} msg/s)")
    print(f"  peak RSS per worker: {', '.join(f'{p:.1f}' for p in peaks)} MB (target <= 100)")
    over_time = (f"{t}: {'/'.join(f'{m:.0f}' for m in ms)}" for t, ms in sorted(samples.items()))
    print("  peak RSS over time (s: MB per worker): " + "; ".join(over_time))
    print(
        f"  delivery log on PostgreSQL: {size / n:.0f} bytes per row with its indexes "
        f"({heap / n:.0f} in the table; {(size - (before or 0)) / n:.0f} written by the send)"
    )
    print(f"  load average: {load()}")
    setup.db.dispose()


class _Snap:
    """The campaign-like view ``message_template`` reads, of a rendered issue."""

    def __init__(self, rendered) -> None:  # type: ignore[no-untyped-def]
        self.subject, self.html, self.text = rendered.subject, rendered.html, rendered.text
        self.language = rendered.language
        self.list_slug, self.list_name = "isa", "ISA-Newsletter"
        self.uid = "bench"  # the campaign's id in its headers (List-Id, Feedback-ID)


if __name__ == "__main__":
    main()
