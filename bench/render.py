"""Render benchmark: time per pipeline stage, and the whole archive as one CLI process.

Usage:  python bench/render.py [--repeat 5] [--vs-node]

Prints, per stage (load/validate, Jinja2, MJML, CSS inlining, text), the total
over all issues in a warm process; then the wall time of one
``newsletter render issues/*.yaml`` process including interpreter start-up,
next to a bare ``python -c pass`` measured the same way as the reference, and
the ratio to the 2 s target of issue #2.

``--vs-node`` also times node's reference compiler, ``mjml@4`` with its own
inliner, on the very MJML our Jinja2 step produces for the 18 issues, as one
``node`` process, alternating with ours (A B A B …), and prints min/median of
each and the ratio of the medians against the 0.5 target of issue #9. Our
process does more: it loads and validates the YAML, runs Jinja2 and writes the
text part too. Needs ``node``; the npm package is installed into the
git-ignored ``bench/_work/`` on first use (``npm install mjml@4``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.config import load_settings  # noqa: E402
from newsletter.issue.files import issue_files  # noqa: E402
from newsletter.issue.load import load_issue  # noqa: E402
from newsletter.render import issue_mjml, render_issue  # noqa: E402

TARGET_SECONDS = 2.0
NODE_TARGET = 0.5
WORK = ROOT / "bench" / "_work"


# As installed: the timed processes may write and use compiled bytecode even
# where the environment says not to (an editable install has none otherwise,
# and every run would compile the package from source).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def stages(files: list[Path]) -> dict[str, float]:
    settings = load_settings(ROOT / "newsletter.toml")
    stage_names = ("load+validate", "images", "jinja", "mjml", "inline", "text")
    totals = dict.fromkeys(stage_names, 0.0)
    for f in files:
        t0 = time.perf_counter()
        issue = load_issue(f)
        totals["load+validate"] += time.perf_counter() - t0
        r = render_issue(issue, settings)
        for k, v in r.timings.items():
            totals[k] += v
    return totals


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - t0


def wall(cmd: list[str], repeat: int) -> float:
    return statistics.median(timed(cmd) for _ in range(repeat))


def newsletter_cmd() -> list[str]:
    """The installed ``newsletter`` script when there is one, as a user runs it."""
    script = Path(sys.executable).with_name("newsletter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "newsletter"]


def node_setup(node: str) -> None:
    if (WORK / "node_modules" / "mjml").is_dir():
        return
    npm = shutil.which("npm") or str(Path(node).with_name("npm"))
    print(f"installing mjml@4 into {WORK.relative_to(ROOT)}/ …", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(WORK), "mjml@4"],
        check=True,
        capture_output=True,
    )


def write_mjml(files: list[Path], folder: Path) -> list[Path]:
    """The MJML our Jinja2 step makes, one file per issue: node's input."""
    settings = load_settings(ROOT / "newsletter.toml")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        target = folder / f"{f.stem}.mjml"
        target.write_text(issue_mjml(load_issue(f), settings), encoding="utf-8")
        out.append(target)
    return out


def vs_node(files: list[Path], repeat: int) -> None:
    node = shutil.which("node")
    if node is None:
        sys.exit("--vs-node needs node on PATH")
    node_setup(node)
    version = subprocess.run(
        [node, "-p", f"require({str(WORK / 'node_modules' / 'mjml' / 'package.json')!r}).version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sources = write_mjml(files, WORK / "mjml")
    with tempfile.TemporaryDirectory() as out:
        ours_cmd = [*newsletter_cmd(), "render", *map(str, files), "-o", f"{out}/ours"]
        node_cmd = [node, str(ROOT / "bench" / "mjml_node.js"), str(WORK), f"{out}/node"]
        node_cmd += map(str, sources)
        timed(ours_cmd), timed(node_cmd)  # warm-up: page cache, node's compile cache
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(timed(ours_cmd))
            theirs.append(timed(node_cmd))
        made = len(list(Path(out, "node").glob("*.html")))
    assert made == len(files), f"node wrote {made} of {len(files)} files"
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"\n{len(files)} issues as one process each, {repeat} runs alternating, seconds:")
    print(f"  {'':34} {'min':>6} {'median':>7}")
    for label, runs in (
        ("newsletter render issues/*.yaml", ours),
        (f"node mjml@{version} (same MJML)", theirs),
    ):
        print(f"  {label:34} {min(runs):6.2f} {statistics.median(runs):7.2f}")
    verdict = "PASS" if ratio <= NODE_TARGET else "FAIL"
    print(f"  ratio of medians {ratio:.2f}x node (target ≤ {NODE_TARGET}x: {verdict});", end="")
    print(f" of minimums {min(ours) / min(theirs):.2f}x")
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, help="runs per command (default 5; 3 with --vs-node)")
    ap.add_argument("--vs-node", action="store_true", help="compare with node's mjml@4")
    args = ap.parse_args()
    files = issue_files(ROOT / "issues")  # the 18 ISA issues, not their translations

    cold = stages(files)  # first pass pays template compilation and CSS parser warm-up
    warm = stages(files)
    print(f"{len(files)} issues; per-stage totals (cold process / warm), milliseconds:")
    for k in cold:
        print(f"  {k:<14} {cold[k] * 1000:8.1f}  {warm[k] * 1000:8.1f}")
    print(
        f"  {'all stages':<14} {sum(cold.values()) * 1000:8.1f}  {sum(warm.values()) * 1000:8.1f}"
    )
    print(f"  per issue (warm): {sum(warm.values()) / len(files) * 1000:.1f} ms")

    if args.vs_node:
        vs_node(files, args.repeat or 3)
        return
    repeat = args.repeat or 5
    with tempfile.TemporaryDirectory() as out:
        cmd = [*newsletter_cmd(), "render", *map(str, files), "-o", out]
        ours = wall(cmd, repeat)
    bare = wall([sys.executable, "-c", "pass"], repeat)
    print(f"\nnewsletter render issues/*.yaml (one process, {repeat} runs, median):")
    print(f"  wall time            {ours:6.2f} s   (target < {TARGET_SECONDS:.1f} s)")
    print(f"  python -c pass       {bare:6.2f} s   (reference start-up)")
    verdict = "PASS" if ours < TARGET_SECONDS else "FAIL"
    print(f"  ratio to target      {ours / TARGET_SECONDS:6.2f}x  ({verdict})")
    print(f"  ratio to bare python {ours / bare:6.1f}x")


if __name__ == "__main__":
    main()
