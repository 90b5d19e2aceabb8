"""A real authoritative DNS server for tests: Debian's Knot DNS, configured in a temporary
directory, listening on 127.0.0.1 at a random port (UDP and TCP).

``dns_server({"example.org": ZONE_TEXT, ...})`` serves each zone from its text; the doctor is
pointed at it with ``--nameserver 127.0.0.1:PORT``. Nothing is sent anywhere else: the zones
are authoritative for everything the tests ask, and names outside them are REFUSED.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
SOA = (
    "@ 300 IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300\n"
    "@ 300 IN NS ns.{origin}.\n"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(root: Path, port: int, zones: dict[str, str]) -> str:
    lines = [
        "server:",
        f'    rundir: "{root}"',
        f"    listen: 127.0.0.1@{port}",
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        "database:",
        f'    storage: "{root}/db"',
        "log:",
        "  - target: stderr",
        "    any: error",
        "zone:",
    ]
    for origin in zones:
        lines += [
            f"  - domain: {origin}",
            f'    storage: "{root}"',
            f'    file: "{origin}.zone"',
            "    zonefile-sync: -1",
            "    journal-content: none",
        ]
    return "\n".join(lines) + "\n"


def _answers(port: int, name: str) -> bool:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    try:
        reply = dns.query.udp(dns.message.make_query(name, "SOA"), "127.0.0.1", 0.5, port=port)
    except (OSError, dns.exception.Timeout):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


@contextmanager
def dns_server(zones: dict[str, str]) -> Iterator[int]:
    """Serve ``zones`` (origin → records, SOA and NS added); yields the port."""
    if not os.path.exists(KNOTD):
        if os.environ.get("CI"):
            pytest.fail("knotd is missing in CI: .ci/run installs Debian's knot")
        pytest.skip("Knot DNS is not installed (apt-get install knot)")
    root = Path(tempfile.mkdtemp(prefix="knot-"))
    (root / "db").mkdir()
    port = _free_port()
    for origin, records in zones.items():
        text = f"$ORIGIN {origin}.\n$TTL 300\n" + SOA.format(origin=origin) + records
        (root / f"{origin}.zone").write_text(text)
    (root / "knot.conf").write_text(_config(root, port, zones))
    process = subprocess.Popen(
        [KNOTD, "-c", str(root / "knot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not all(_answers(port, origin) for origin in zones):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"knotd did not start: {process.communicate()[1]}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
