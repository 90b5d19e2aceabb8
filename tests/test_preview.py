"""``newsletter preview``: a real uvicorn on 127.0.0.1, queried with httpx, reloads after edits."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.workbench.preview import bind, preview_server

ROOT = Path(__file__).resolve().parents[1]
ISSUE = """\
issue:
  date: 2021-07
  language: en
  subject: "Preview test"
  preheader: "Watching files"
articles:
  - title: "{title}"
    paragraphs: ["Some words."]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "header.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text><p>HEADER ONE</p></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    (tmp_path / "newsletter.toml").write_text(
        '[organisation]\npostal_address = "First Street 1"\ntemplates_dir = "templates"\n',
        encoding="utf-8",
    )
    (tmp_path / "issue.yaml").write_text(ISSUE.format(title="Original title"), encoding="utf-8")
    return tmp_path


@pytest.fixture
def server(folder: Path) -> Iterator[str]:
    sock = bind("127.0.0.1", 0)
    srv = preview_server(
        folder / "issue.yaml", load_settings(folder / "newsletter.toml"), debounce_ms=100
    )
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "preview server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)


def eventually(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def frame(base: str) -> str:
    return httpx.get(f"{base}/frame/light", timeout=5).text


@pytest.mark.timeout(120)
def test_page_shows_all_four_views(server: str) -> None:
    page = httpx.get(server + "/", timeout=5)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for view in ("Desktop (600 px)", "Phone (375 px)", "Dark mode (Apple Mail)", "Plain text"):
        assert view in page.text
    assert page.text.count('src="/frame/light"') == 2 and 'src="/frame/dark"' in page.text
    assert "Original title\n=====" in page.text  # the text part, escaped in a <pre>
    assert "Original title" in frame(server)
    dark = httpx.get(server + "/frame/dark", timeout=5).text
    assert "prefers-color-scheme" not in dark and "@media all" in dark
    assert 'EventSource("/events")' in httpx.get(server + "/preview.js", timeout=5).text


@pytest.mark.timeout(120)
def test_reloads_after_the_issue_a_template_or_the_config_changes(
    server: str, folder: Path
) -> None:
    with httpx.stream("GET", server + "/events", timeout=30) as events:
        lines = events.iter_lines()
        assert next(lines) == "event: version" and next(lines) == "data: 1"

        (folder / "issue.yaml").write_text(ISSUE.format(title="Edited title"), encoding="utf-8")
        assert next(lines) == ""
        assert next(lines) == "event: version" and next(lines) == "data: 2"
    assert "Edited title" in frame(server) and "Original title" not in frame(server)

    (folder / "templates" / "header.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text><p>HEADER TWO</p></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    eventually(lambda: "HEADER TWO" in frame(server), "the template change")

    config = folder / "newsletter.toml"
    config.write_text(config.read_text("utf-8").replace("First Street", "Second Street"), "utf-8")
    eventually(lambda: "Second Street 1" in frame(server), "the config change")


@pytest.mark.timeout(120)
def test_yaml_error_is_shown_with_its_location_and_the_server_keeps_running(
    server: str, folder: Path
) -> None:
    issue = folder / "issue.yaml"
    issue.write_text(ISSUE.format(title="Fine").replace("date: 2021-07", "date: 2021-13"), "utf-8")
    eventually(lambda: "problem(s)" in httpx.get(server + "/", timeout=5).text, "the error page")
    page = httpx.get(server + "/", timeout=5).text
    assert re.search(
        rf"<code>{re.escape(str(issue))}:2:9</code> issue.date: expected a month", page
    )
    assert httpx.get(server + "/frame/light", timeout=5).status_code == 503

    issue.write_text(ISSUE.format(title="Fine").replace('words."]', 'words."'), "utf-8")
    eventually(lambda: "YAML syntax error" in httpx.get(server + "/", timeout=5).text, "syntax")

    issue.write_text(ISSUE.format(title="Fixed again"), encoding="utf-8")
    eventually(lambda: httpx.get(server + "/frame/light", timeout=5).status_code == 200, "fix")
    assert "Fixed again" in frame(server)


def test_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        issue = tmp_path / "issue.yaml"
        issue.write_text(ISSUE.format(title="T"), encoding="utf-8")
        result = CliRunner().invoke(cli, ["preview", str(issue), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another --port" in result.output


@contextlib.contextmanager
def preview_process(folder: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``newsletter preview`` as a user starts it, on a free port; (process, base URL)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--config", str(folder / "newsletter.toml"),
         "preview", str(folder / "issue.yaml"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=folder,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/ \(Ctrl\+C stops\)", line)
        assert m, line + proc.stdout.read() if proc.poll() is not None else line
        base = m.group(1)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/preview.js", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "preview did not answer"
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_signal_stops_preview_with_an_event_stream_open(folder: Path, sig: int) -> None:
    """Before, uvicorn waited for the stream, which never ended: still running 8 s later."""
    with preview_process(folder) as (proc, base):
        with httpx.stream("GET", base + "/events", timeout=10) as events:
            lines = events.iter_lines()
            assert next(lines) == "event: version"
            proc.send_signal(sig)
            started = time.monotonic()
            rest = list(lines)  # the stream ends by itself, saying why
            try:
                status = proc.wait(max(0.0, 2.0 - (time.monotonic() - started)) + 0.01)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"preview still running {time.monotonic() - started:.1f} s after one signal"
                )
        assert status == 0, proc.stdout.read() if proc.stdout else ""
        assert "event: stopping" in rest
        assert "Aborted" not in (proc.stdout.read() if proc.stdout else "")


@pytest.mark.timeout(120)
def test_a_save_reaches_the_open_page_as_a_reload_event_in_under_0_3_s(folder: Path) -> None:
    """Median of 5 saves on the real command, measured from the write to the event's arrival."""
    issue = folder / "issue.yaml"
    took: list[float] = []
    with preview_process(folder) as (_, base):
        with httpx.stream("GET", base + "/events", timeout=10) as events:
            lines = events.iter_lines()
            assert next(lines) == "event: version" and next(lines) == "data: 1"
            for version in range(2, 7):
                time.sleep(0.4)  # apart: each save is its own change
                started = time.perf_counter()
                issue.write_text(ISSUE.format(title=f"Edit {version}"), encoding="utf-8")
                while (line := next(lines)) != f"data: {version}":
                    assert not line.startswith("data:"), line
                took.append(time.perf_counter() - started)
        page = httpx.get(base + "/frame/light", timeout=5).text
    assert "Edit 6" in page
    assert statistics.median(took) < 0.3, took
