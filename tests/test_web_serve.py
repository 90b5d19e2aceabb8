"""``newsletter serve``: what it refuses to start with, and the real command serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from web_helpers import bound_socket

from newsletter.config import Delivery, Settings
from newsletter.errors import ConfigError
from newsletter.web.app import check_serving

TOML = """
[organisation]
name = "ISA"
language = "de"
[delivery]
base_url = "{base_url}"
"""


def config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(TOML.format(base_url=base_url), encoding="utf-8")
    return path


def test_serve_refuses_a_plain_http_base_url(cli_run, tmp_path: Path, db, monkeypatch) -> None:
    config(tmp_path, "http://newsletter.example.org")
    r = cli_run("serve")
    assert r.exit_code == 2
    assert "delivery.base_url: must be an https URL (http only for localhost)" in r.output
    # a Settings object made in code gets the same refusal from serve's own check
    settings = replace(Settings(), delivery=replace(Delivery(), base_url="http://example.org"))
    with pytest.raises(ConfigError, match=r"base_url must start with https://"):
        check_serving(settings, db)
    local = replace(Settings(), delivery=replace(Delivery(), base_url="http://127.0.0.1:8000"))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "a key")
    check_serving(local, db)


def test_serve_refuses_to_start_without_the_secret_key(cli_run, tmp_path: Path) -> None:
    config(tmp_path, "https://newsletter.example.org")
    r = cli_run("serve")
    assert r.exit_code == 2
    assert "Error: no secret key: set $NEWSLETTER_SECRET_KEY" in r.output
    assert list(tmp_path.glob("*.key")) == []  # refused, not invented


def test_a_port_in_use_is_one_line(cli_run, tmp_path: Path, db, monkeypatch) -> None:
    config(tmp_path, "https://newsletter.example.org")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "a key")
    taken = bound_socket()
    taken.listen()
    port = taken.getsockname()[1]
    try:
        r = cli_run("serve", "--port", str(port))
    finally:
        taken.close()
    assert (r.exit_code, r.output) == (
        1,
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )


def test_serve_and_archive_are_not_loaded_for_help() -> None:
    code = (
        "import sys\nfrom newsletter.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'multipart') if m in sys.modules))"
    )
    for args in (["--help"], ["serve", "--help"], ["archive", "build", "--help"]):
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip().splitlines()[-1] == "[]", (args, out.stdout)


def test_the_real_command_serves_until_stopped(tmp_path: Path) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # the command binds it itself; a race here only fails this test loudly
    path = config(tmp_path, f"http://127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_SECRET_KEY"] = "test secret for serve"
    # serve never creates a database (a mistyped path would serve an empty one)
    subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(path), "db", "upgrade"],
        cwd=tmp_path, env=env, check=True, capture_output=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(path), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert (r.status_code, r.text) == (200, "ok\n")
        assert "server" not in r.headers
        unsubscribe = httpx.get(f"http://127.0.0.1:{port}/unsubscribe/1-1-abcdef")
        assert unsubscribe.status_code == 400
        with httpx.Client(timeout=5) as kept:  # a browser's kept-alive connection stays open
            assert kept.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            proc.wait(10)
            took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    # one signal ends it, gracefully and as a normal end (uvicorn re-raised it: -15)
    assert proc.returncode == 0 and took < 2.0, (proc.returncode, took)
    assert "Application shutdown complete" in output
    assert f"Serving http://127.0.0.1:{port} on http://127.0.0.1:{port}" in output
    assert '"GET /unsubscribe/{token}" 400' in output
    assert "1-1-abcdef" not in output
