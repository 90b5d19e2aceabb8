"""Rate-limited sending on a loaded machine (issue 22): does it keep its pace?

Sends a campaign at ``--rate`` messages per second over 4 connections into aiosmtpd on
loopback while ``--load`` busy processes compete for the CPU, and prints the rate the
server saw (first to last message), the most messages the limiter started in any second
(never above the limit) and the most the server received in any second, with the load
average. ``--ref DIR`` runs a reference tree (a checkout of older code, e.g. made with
``git archive``) in the same way, alternating with this one, round by round.

    python bench/pace.py                    # 50/s, load 10, 500 messages, 3 rounds
    python bench/pace.py --ref /tmp/base    # the same for /tmp/base/newsletter, alternating

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

ROOT = Path(__file__).resolve().parent.parent


def _busy(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def one_round(n: int, rate: float) -> dict[str, float]:
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


def run(tree: Path, n: int, rate: float) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "-n", str(n), "--rate", str(rate)],
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
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_round(args.n, args.rate)))
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
        print(f"{args.n} messages at {args.rate:g}/s, 4 connections, {args.load} busy processes")
        for r in range(1, args.rounds + 1):
            for name, tree in trees:
                got = run(tree, args.n, args.rate)
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
