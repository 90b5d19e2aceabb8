"""Helpers for the worker tests: a config file for the CLI, worker processes, waiting for a state.

Workers are real ``newsletter worker`` processes (``python -m newsletter``)
on the test's database, sending to a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from delivery_helpers import ROOT, World


def write_config(world: World, path: Path, port: int | None, **sections: dict[str, object]) -> Path:
    """A ``newsletter.toml`` for ``world``'s database; ``sections`` add keys per section."""
    parts: dict[str, dict[str, object]] = {
        "database": {"url": world.settings.database_url},
        "organisation": {"sender_email": "newsletter@isa.example.org"},
        "delivery": {"transport": "smtp" if port else "maildir", "retry_base_seconds": 0.5},
        "smtp": {"host": "127.0.0.1", "port": port or 25, "timeout": 5.0},
        "workers": {"poll_seconds": 0.5, "stalled_seconds": 3.0, "batch_size": 100},
    }
    for name, keys in sections.items():
        parts.setdefault(name, {}).update(keys)
    lines = []
    for name, keys in parts.items():
        lines.append(f"[{name}]")
        for key, value in keys.items():
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", "--config", str(config), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def run(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(config, *args), env=env(), capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def workers(config: Path, n: int = 1, *args: str, logs: Path | None = None) -> Iterator[list]:
    """``n`` worker processes; stopped (SIGTERM, then SIGKILL) when the block ends."""
    procs = []
    for i in range(n):
        out = open(logs / f"worker{i}.log", "w") if logs else subprocess.DEVNULL  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                cli(config, "worker", *args), env=env(), stdout=out, stderr=subprocess.STDOUT
            )
        )
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_for(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def wait_ready(logs: Path, n: int = 1, timeout: float = 30) -> None:
    """Until each of the ``n`` workers logging into ``logs`` has said it is waiting for work."""

    def ready() -> bool:
        texts = [(logs / f"worker{i}.log").read_text(errors="replace") for i in range(n)]
        return all(" worker " in t for t in texts)

    wait_for(ready, timeout, f"{n} worker(s) to start")
