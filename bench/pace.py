"""Rate-limited sending on a loaded machine (issue 22): does it keep its pace?

Sends a campaign at ``--rate`` messages per second over 4 connections into aiosmtpd on
loopback while ``--load`` busy processes compete for the CPU, and prints the rate the
server saw (first to last message), the most messages the limiter started in any second
(never above the limit) and the most the server received in any second, with the load
average. ``--ref DIR`` runs a reference tree (a checkout of older code, e.g. made with
``git archive``) in the same way, alternating with this one, round by round.

``--pacer shared`` paces the same sender with the workers' pacer instead
(``newsletter.workers.pacing.SharedRate``: every start reserved through the ``send_rate``
row of the SQLite database, by its clock, as each worker's dispatcher does); "started" then
counts the reserved starts.

    python bench/pace.py                    # 50/s, load 10, 500 messages, 3 rounds
    python bench/pace.py --ref /tmp/base    # the same for /tmp/base/newsletter, alternating
    python bench/pace.py --pacer shared     # the workers' shared pacer

Not part of the test suite (tests/test_ratelimit.py has a cheap version).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _busy(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def one_round(n: int, rate: float, pacer: str = "local") -> dict[str, float]:
    """Run in a process whose ``newsletter`` is the tree under test."""
    sys.path.insert(0, str(ROOT / "tests"))
    from delivery_helpers import World
    from smtp_server import RecordingServer
    from window_helpers import most_within

    from newsletter.campaigns.sender import run_campaign
    from newsletter.ratelimit import RateLimiter
    from newsletter.transports.smtp import SmtpTransport

    starts: list[float] = []
    record = RateLimiter.record

    def noted(self: RateLimiter, now: float) -> None:
        starts.append(now)
        record(self, now)

    RateLimiter.record = noted  # type: ignore[method-assign]
    tmp = Path(tempfile.mkdtemp())
    world = World(tmp, f"sqlite:///{tmp}/bench.sqlite")
    if pacer == "shared":
        _shared_pacer(world, rate, starts)
    world.configure(rate_per_second=rate)
    world.add(n)
    cid = world.campaign()
    with RecordingServer() as srv:
        transport = SmtpTransport("127.0.0.1", srv.port, connections=4, timeout=10.0)
        run_campaign(world.db, world.settings, cid, transport)
        arrived = sorted(m.at for m in srv.messages)
    ours = sorted(starts[-n:])  # the seeding from the log records too
    return {
        "rate": (len(arrived) - 1) / (arrived[-1] - arrived[0]),
        "most_started": most_within(ours, 1.0),
        "most_received": most_within(arrived, 1.0),
    }


def _shared_pacer(world: Any, rate: float, starts: list[float]) -> None:
    """Pace the sender's dispatcher with the workers' pacer, noting each reserved start."""
    from newsletter.campaigns import dispatch
    from newsletter.workers.pacing import SharedRate, buckets

    take = SharedRate.take

    def noted(self: SharedRate) -> tuple[Any, Any]:
        start, now = take(self)
        starts.append(start.timestamp())
        return start, now

    SharedRate.take = noted  # type: ignore[method-assign]
    local = dispatch.Pace

    class Shared(local):  # type: ignore[misc, valid-type]
        def __init__(self, settings: Any, recent: Any, shared: Any = None):
            limits = buckets(rate, None, None)
            super().__init__(settings, recent, SharedRate(world.db.engine, "smtp bench", limits))

    dispatch.Pace = Shared  # type: ignore[misc]


def run(tree: Path, n: int, rate: float, pacer: str = "local") -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "-n", str(n), "--rate", str(rate), "--pacer", pacer],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--load", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref", type=Path, help="a reference tree to alternate with")
    ap.add_argument(
        "--pacer",
        choices=["local", "shared"],
        default="local",
        help="the sender's own RateLimiter, or the workers' pacer in the database",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_round(args.n, args.rate, args.pacer)))
        return
    trees = [("this tree", ROOT)] + ([("reference", args.ref)] if args.ref else [])
    stop = multiprocessing.Event()
    load = [
        multiprocessing.Process(target=_busy, args=(stop,), daemon=True) for _ in range(args.load)
    ]
    for p in load:
        p.start()
    rates: dict[str, list[float]] = {name: [] for name, _ in trees}
    try:
        time.sleep(1.0)
        which = "the workers' shared pacer" if args.pacer == "shared" else "the sender's limiter"
        print(
            f"{args.n} messages at {args.rate:g}/s, 4 connections, {args.load} busy processes, "
            f"{which}"
        )
        for r in range(1, args.rounds + 1):
            for name, tree in trees:
                got = run(tree, args.n, args.rate, args.pacer)
                rates[name].append(got["rate"])
                print(
                    f"  round {r} {name:9}: {got['rate']:5.1f}/s "
                    f"({got['rate'] / args.rate:.0%} of the limit); most in one second: "
                    f"started {got['most_started']:.0f}, received {got['most_received']:.0f}; "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
    finally:
        stop.set()
        for p in load:
            p.join()
    for name, got in rates.items():
        print(f"{name:9}: min {min(got):.1f}/s, median {statistics.median(got):.1f}/s")


if __name__ == "__main__":
    main()
