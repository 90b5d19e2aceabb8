"""``newsletter check --report``: the pre-send report lists each problem and exits as documented."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.workbench.report import build_report

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "report"
RIVERSIDE = ROOT / "examples" / "riverside"


def run(*args: str) -> Result:
    # A wide terminal, so the table's cells do not wrap inside the words looked for.
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def report_json(result: Result) -> dict:
    data = json.loads(result.stdout)
    assert len(data) == 1
    return data[0]


def findings(report: dict, check: str, severity: str | None = None) -> list[dict]:
    return [
        f
        for f in report["findings"]
        if f["check"] == check and (severity is None or f["severity"] == severity)
    ]


def test_bad_issue_lists_every_problem_and_exits_as_documented() -> None:
    args = ["--config", str(FIXTURES / "newsletter.toml"), "check", "--report", "--no-spam"]
    bad = str(FIXTURES / "bad.yaml")
    result = run(*args, "--format", "json", bad)
    assert result.exit_code == 0  # warnings only
    report = report_json(result)
    assert report["errors"] == 0 and report["warnings"] >= 5

    [insecure] = [f for f in findings(report, "yaml") if "http://" in f["message"]]
    assert insecure["where"] == f"{bad}:17:14"
    assert "insecure http:// link 'http://poor.example.com/insecure'" in insecure["message"]
    [alt] = [f for f in findings(report, "yaml") if "alt text" in f["message"]]
    assert alt["where"] == f"{bad}:13:7" and alt["severity"] == "warning"
    [size] = findings(report, "size", "warning")
    assert size["data"]["bytes"] > 102 * 1024 and "Gmail clips" in size["message"]
    low = findings(report, "contrast", "warning")
    pairs = {(f["data"]["foreground"], f["data"]["background"], f["data"]["mode"]) for f in low}
    assert pairs == {("#aaaaaa", "#ffffff", "light"), ("#aaaaaa", "#f2f4f7", "light")}
    subtitle = next(f for f in low if f["data"]["background"] == "#ffffff")
    assert subtitle["data"]["ratio"] == 2.32 and subtitle["data"]["required"] == 4.5
    assert "colours.muted #aaaaaa on colours.surface #ffffff is 2.32:1" in subtitle["message"]
    [brand] = findings(report, "brand", "warning")
    assert "colours.accent #ffe066 fails WCAG AA with white text (1.30:1" in brand["message"]
    assert findings(report, "preheader", "note")  # it repeats the subject
    [ratio] = findings(report, "text-ratio", "warning")
    assert ratio["data"]["share"] < 0.05
    assert findings(report, "unsubscribe", "ok")

    table = run(*args, bad)
    assert table.exit_code == 0
    for text in ("insecure http:// link", "image without alt text", "Gmail clips", "2.32:1"):
        assert text in table.stdout, text
    assert f"{bad}: 0 errors, 7 warnings, 1 note" in table.stdout

    strict = run(*args, "--strict", bad)
    assert strict.exit_code == 2


def test_samples_pass_contrast_in_light_and_dark_mode() -> None:
    for config, issue in (
        (ROOT / "newsletter.toml", ROOT / "issues" / "2021-07.yaml"),
        (RIVERSIDE / "newsletter.toml", RIVERSIDE / "issues" / "2026-11.yaml"),
    ):
        report = build_report(issue, load_settings(config), spam=False)
        contrast = [f for f in report.findings if f.check == "contrast"]
        assert [f.severity for f in contrast] == ["ok", "ok"], [f.message for f in contrast]
        assert {f.data["mode"] for f in contrast} == {"light", "dark"}
        assert all(f.data["lowest"] >= 4.5 and f.data["texts"] > 50 for f in contrast)
        assert report.exit_code() == 0


def test_old_dark_mode_rules_are_caught(tmp_path: Path) -> None:
    """The defects issue 12 found by eye, found by the report: the pre-fix dark rules."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "head.mjml.j2").write_text(
        '{% extends "default/head.mjml.j2" %}{% block dark %}'
        "@media (prefers-color-scheme: dark) {"
        " .nl-body { background-color: #111418 !important; }"
        " .nl-card td, .nl-card div { background-color: #1b1f24 !important;"
        " color: #e8e8e8 !important; }"
        " .nl-h2, .nl-h3, .nl-link, a { color: #8ab4f8 !important; } }"
        "{% endblock %}",
        encoding="utf-8",
    )
    shutil.copy(RIVERSIDE / "newsletter.toml", tmp_path / "newsletter.toml")
    report = build_report(
        RIVERSIDE / "issues" / "2026-11.yaml",
        load_settings(tmp_path / "newsletter.toml"),
        spam=False,
    )
    dark = {
        (f.data["foreground"], f.data["background"]): f.data["ratio"]
        for f in report.findings
        if f.check == "contrast" and f.severity == "warning" and f.data["mode"] == "dark"
    }
    assert dark[("#8ab4f8", "#f18f01")] == 1.15  # the button label
    assert dark[("#52606d", "#1b1f24")] < 4.5  # muted text on the dark card
    assert dark[("#52606d", "#111418")] < 4.5  # the footer


def test_missing_unsubscribe_link_is_an_error(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text><p>No way out</p></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    (tmp_path / "newsletter.toml").write_text(
        '[organisation]\ntemplates_dir = "templates"\n', encoding="utf-8"
    )
    result = run(
        "--config",
        str(tmp_path / "newsletter.toml"),
        "check",
        "--report",
        "--no-spam",
        "--format",
        "json",
        str(ROOT / "issues" / "2021-07.yaml"),
    )
    assert result.exit_code == 2
    [error] = findings(report_json(result), "unsubscribe", "error")
    assert "no unsubscribe link in the HTML part" in error["message"]


def test_yaml_errors_stop_the_report_with_their_location(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("issue:\n  date: 2021-13\n  language: de\n  subject: S\n", encoding="utf-8")
    result = run("check", "--report", "--format", "json", str(broken))
    assert result.exit_code == 2
    [error] = report_json(result)["findings"]
    assert error["severity"] == "error" and error["where"] == f"{broken}:2:9"


def test_report_options_need_report() -> None:
    result = CliRunner().invoke(cli, ["check", "--links", str(ROOT / "issues" / "2021-07.yaml")])
    assert result.exit_code == 2 and "go with --report" in result.output


# --- links ---------------------------------------------------------------------------------


class _Site(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        if self.path == "/no-head":
            self.send_response(405)
            self.end_headers()
            return
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/ok")
            self.end_headers()
            return
        status = 404 if self.path == "/gone" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _local_issue(tmp_path: Path, base: str, paths: list[str]) -> tuple[Path, Path]:
    """An issue and profile whose every address is on ``base``: no lookup leaves the machine."""
    (tmp_path / "newsletter.toml").write_text(
        f'[organisation]\nwebsite = "{base}/"\n[delivery]\nbase_url = "{base}"\n', encoding="utf-8"
    )
    links = "".join(f'      - {{label: "L{i}", url: "{base}{p}"}}\n' for i, p in enumerate(paths))
    issue = tmp_path / "links.yaml"
    issue.write_text(
        "issue: {date: 2021-07, language: en, subject: Links, preheader: Links to check}\n"
        f"articles:\n  - title: A\n    paragraphs: [x]\n    links:\n{links}",
        encoding="utf-8",
    )
    return tmp_path / "newsletter.toml", issue


def test_links_are_requested_and_broken_ones_listed(tmp_path: Path, site: str) -> None:
    config, issue = _local_issue(tmp_path, site, ["/ok", "/gone", "/no-head", "/moved"])
    result = run(
        "--config", str(config), "check", "--report", "--links", "--no-spam", "--format", "json",
        str(issue),
    )  # fmt: skip
    assert result.exit_code == 0
    report = report_json(result)
    [broken] = findings(report, "links", "warning")
    assert broken["message"] == f"{site}/gone: HTTP 404"
    [summary] = findings(report, "links", "ok")
    assert summary["message"] == "4 of 5 link(s) answer"  # and the "view in browser" link


def test_offline_links_are_one_note(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    config, issue = _local_issue(tmp_path, closed, ["/a", "/b"])
    result = run(
        "--config", str(config), "check", "--report", "--links", "--no-spam", "--format", "json",
        str(issue),
    )  # fmt: skip
    assert result.exit_code == 0
    report = report_json(result)
    [note] = findings(report, "links")
    assert note["severity"] == "note"
    assert note["message"].startswith("no link could be reached (")
    assert note["message"].endswith("offline? 3 link(s) not checked")


@pytest.mark.skipif(shutil.which("spamassassin") is None, reason="spamassassin not installed")
@pytest.mark.timeout(180)
def test_readme_report_example_is_real_output(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ newsletter check --report (\S+)\n(.*?)```", readme, re.S)
    assert shown
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    result = CliRunner().invoke(
        cli, ["check", "--report", shown.group(1)], env={"COLUMNS": "100"}, catch_exceptions=False
    )
    assert result.exit_code == 0

    def rows(text: str) -> str:
        # The spam row names SpamAssassin's informational rules, which its rule updates change.
        lines = [line.rstrip() for line in text.splitlines()]
        start = next(i for i, line in enumerate(lines) if line.startswith(" ok      │ spam"))
        assert "SpamAssassin 0.0 points (spam from 5.0)" in lines[start]
        return "\n".join(lines[:start] + lines[-1:])

    assert rows(result.stdout) == rows(shown.group(2))


def test_an_insecure_link_is_one_finding_however_often_it_appears(tmp_path: Path) -> None:
    issue = tmp_path / "2021-07.yaml"
    issue.write_text(
        """\
issue:
  date: 2021-07
  language: en
  subject: Subject line for the test
  preheader: A preheader that is long enough for the check to be happy about it
editorial:
  paragraphs: ["See [the page](http://example.org/page) now."]
articles:
  - title: T
    paragraphs: ["[Once](http://example.org/page) and [twice](http://example.org/page)."]
""",
        encoding="utf-8",
    )
    result = run("check", "--report", "--no-spam", "--format", "json", str(issue))
    [insecure] = findings(report_json(result), "http")
    assert insecure["message"] == (
        "insecure http:// link http://example.org/page (in the issue's text, the theme or "
        "newsletter.toml, 3 places); use https://"
    )
