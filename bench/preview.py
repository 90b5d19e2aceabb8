"""Save-to-refresh of ``newsletter preview``: from writing the issue file to the refreshed page.

Usage:  python bench/preview.py [--saves 7] [--rounds 3]

Starts the real ``newsletter preview`` on the July ISA issue (a copy in a
temporary folder), keeps ``/events`` open as the page's EventSource does,
then saves the issue ``--saves`` times, each a real edit. For each save it
measures the time to the reload event and to the refreshed page (the
event, then ``GET /`` and ``GET /frame/light`` as the reloading page does).
Goal (issue #27): <= 0.2 s to the refreshed page. Prints min/median of the
rounds' medians and the load average; also the time from one SIGINT to the
process's end with the stream open.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.2


def start(folder: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(folder / "newsletter.toml"),
         "preview", str(folder / "issue.yaml"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=folder,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    if not m:
        raise SystemExit(f"preview did not start: {line}{proc.stdout.read()}")
    base = m.group(1)
    while True:
        try:
            httpx.get(base + "/preview.js", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.05)


def one_round(folder: Path, saves: int) -> tuple[list[float], list[float], float]:
    issue = folder / "issue.yaml"
    original = issue.read_text("utf-8")
    proc, base = start(folder)
    events, pages = [], []
    with httpx.Client(timeout=10) as client, client.stream("GET", base + "/events") as stream:
        lines = stream.iter_lines()
        version = int(next(lines) and next(lines).removeprefix("data: "))
        for i in range(saves):
            time.sleep(0.5)
            started = time.perf_counter()
            issue.write_text(original.replace("subject:", f"# edit {i}\n  subject:", 1), "utf-8")
            version += 1
            while next(lines) != f"data: {version}":
                pass
            events.append(time.perf_counter() - started)
            client.get(base + "/")
            client.get(base + "/frame/light")
            pages.append(time.perf_counter() - started)
        proc.send_signal(signal.SIGINT)
        stopped = time.perf_counter()
        proc.wait(10)
        stop = time.perf_counter() - stopped
    issue.write_text(original, "utf-8")
    return events, pages, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
        shutil.copy(ROOT / "issues" / "2021-07.yaml", folder / "issue.yaml")
        if (ROOT / "issues" / "img").is_dir():
            shutil.copytree(ROOT / "issues" / "img", folder / "img")
        rounds = [one_round(folder, args.saves) for _ in range(args.rounds)]
    event = [statistics.median(r[0]) for r in rounds]
    page = [statistics.median(r[1]) for r in rounds]
    stop = [r[2] for r in rounds]
    median = statistics.median
    print(f"save -> reload event     min {min(event):.3f} s  median {median(event):.3f} s")
    print(
        f"save -> refreshed page   min {min(page):.3f} s  median {statistics.median(page):.3f} s"
        f"  (goal <= {GOAL} s: {'met' if statistics.median(page) <= GOAL else 'NOT met'})"
    )
    print(f"SIGINT -> process ended  max {max(stop):.3f} s (stream open)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
