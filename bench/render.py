"""Render benchmark: time per pipeline stage, and the whole archive as one CLI process.

Usage:  python bench/render.py [--repeat 5]

Prints, per stage (load/validate, Jinja2, MJML, CSS inlining, text), the total
over all issues in a warm process; then the wall time of one
``newsletter render issues/*.yaml`` process including interpreter start-up,
next to a bare ``python -c pass`` measured the same way as the reference, and
the ratio to the 2 s target of issue #2.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.config import load_settings  # noqa: E402
from newsletter.issue.load import load_issue  # noqa: E402
from newsletter.render import render_issue  # noqa: E402

TARGET_SECONDS = 2.0


def stages(files: list[Path]) -> dict[str, float]:
    settings = load_settings(ROOT / "newsletter.toml")
    totals = {"load+validate": 0.0, "jinja": 0.0, "mjml": 0.0, "inline": 0.0, "text": 0.0}
    for f in files:
        t0 = time.perf_counter()
        issue = load_issue(f)
        totals["load+validate"] += time.perf_counter() - t0
        r = render_issue(issue, settings)
        for k, v in r.timings.items():
            totals[k] += v
    return totals


def wall(cmd: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    files = sorted((ROOT / "issues").glob("*.yaml"))

    cold = stages(files)  # first pass pays template compilation and CSS parser warm-up
    warm = stages(files)
    print(f"{len(files)} issues; per-stage totals (cold process / warm), milliseconds:")
    for k in cold:
        print(f"  {k:<14} {cold[k] * 1000:8.1f}  {warm[k] * 1000:8.1f}")
    print(
        f"  {'all stages':<14} {sum(cold.values()) * 1000:8.1f}  {sum(warm.values()) * 1000:8.1f}"
    )
    print(f"  per issue (warm): {sum(warm.values()) / len(files) * 1000:.1f} ms")

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "newsletter", "render", *map(str, files), "-o", out]
        ours = wall(cmd, args.repeat)
    bare = wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"\nnewsletter render issues/*.yaml (one process, {args.repeat} runs, median):")
    print(f"  wall time            {ours:6.2f} s   (target < {TARGET_SECONDS:.1f} s)")
    print(f"  python -c pass       {bare:6.2f} s   (reference start-up)")
    verdict = "PASS" if ours < TARGET_SECONDS else "FAIL"
    print(f"  ratio to target      {ours / TARGET_SECONDS:6.2f}x  ({verdict})")
    print(f"  ratio to bare python {ours / bare:6.1f}x")


if __name__ == "__main__":
    main()
