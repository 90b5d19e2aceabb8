"""``newsletter preview``: a real uvicorn on 127.0.0.1, queried with httpx, reloads after edits."""

from __future__ import annotations

import re
import socket
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
