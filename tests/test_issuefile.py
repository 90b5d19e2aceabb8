"""Loading and validating issue YAML: exact file:line:col messages, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.errors import IssueError
from newsletter.issue.load import load_issue, load_issue_with_warnings, parse_issue
from newsletter.languages import available

MINIMAL = """\
issue:
  date: 2021-07
  language: de
  subject: "ISA-Newsletter Juli 2021"
  preheader: "Kurz"
articles:
  - title: Erster Artikel
    paragraphs: ["Text"]
"""


def test_minimal_issue_loads() -> None:
    issue, warnings = parse_issue(MINIMAL, "x.yaml")
    assert issue.slug == "2021-07"
    assert issue.articles[0].title == "Erster Artikel"
    assert warnings == []


def test_all_errors_reported_with_line_and_column(tmp_path: Path) -> None:
    src = """\
issue:
  date: 2021-13
  language: tlh
  subject: x
  colour: red
articles:
  - title: A
    paragraph: [x]
    links: [{label: L, url: "ftp://example.org/x"}]
events:
  - title: E
    date: 2021-02-30
    start: "25:00"
"""
    f = tmp_path / "2021-07.yaml"
    f.write_text(src, encoding="utf-8")
    with pytest.raises(IssueError) as exc:
        load_issue(f)
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{f}:2:9: issue.date: expected a month as YYYY-MM (e.g. 2021-07), got '2021-13'",
        f"{f}:3:13: issue.language: unknown language 'tlh': no translation catalog for it; "
        "add a catalog at locales/tlh/LC_MESSAGES/newsletter.po in the templates folder "
        f"(see docs/languages.md); available: {', '.join(available())}",
        f"{f}:5:3: unknown key 'issue.colour'",
        f"{f}:8:5: unknown key 'articles[0].paragraph'; did you mean 'paragraphs'?",
        f"{f}:9:29: articles[0].links[0].url: invalid URL 'ftp://example.org/x'; "
        "use an absolute https://… or mailto: address",
        f"{f}:12:11: events[0].date: expected a date as YYYY-MM-DD (e.g. 2021-06-29), "
        "got '2021-02-30'",
        f"{f}:13:12: events[0].start: expected a time as HH:MM (e.g. 09:30), got '25:00'",
    ]


def test_missing_required_and_wrong_types() -> None:
    src = "issue:\n  date: 2021-07\n  language: de\narticles:\n  - paragraphs: x\n"
    with pytest.raises(IssueError) as exc:
        parse_issue(src, "f.yaml")
    assert [str(p) for p in exc.value.problems] == [
        "f.yaml:2:3: missing required key 'issue.subject'",
        "f.yaml:5:17: articles[0].paragraphs: expected a list (items starting with '- ')",
        "f.yaml:5:5: missing required key 'articles[0].title'",
    ]


def test_yaml_syntax_error_position() -> None:
    with pytest.raises(IssueError) as exc:
        parse_issue("issue:\n  date: [2021\n", "broken.yaml")
    assert str(exc.value).startswith("broken.yaml:3:1: YAML syntax error:")


def test_warnings() -> None:
    src = """\
issue:
  date: 2021-07
  language: en
  subject: "This subject line is far too long for most inboxes to show in full, really, truly"
articles:
  - title: Same
    image: {src: "https://example.org/a.png"}
    links: [{label: Read on, url: "http://example.org/x"}, {label: Lost link}]
  - title: same
"""
    _, warnings = parse_issue(src, "w.yaml")
    text = "\n".join(str(w) for w in warnings)
    assert "w.yaml:7:12: warning: image without alt text" in text
    assert "w.yaml:8:35: warning: articles[0].links[0].url: insecure http:// link" in text
    assert "warning: link 'Lost link' has no URL" in text
    assert "warning: missing preheader" in text
    assert "warning: subject is 81 characters" in text
    assert "warning: duplicate article title 'same'" in text


def test_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("issue:\n  subject: Grüße\n".encode("latin-1"))
    with pytest.raises(IssueError, match=r"latin1.yaml: not UTF-8 text"):
        load_issue_with_warnings(f)


def test_check_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL, encoding="utf-8")
    warn = tmp_path / "warn.yaml"
    warn.write_text(MINIMAL.replace('  preheader: "Kurz"\n', ""), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert f"{good}: ok" in ok.output
    assert runner.invoke(cli, ["check", str(warn)]).exit_code == 0
    strict = runner.invoke(cli, ["check", "--strict", str(warn)])
    assert strict.exit_code == 2
    assert "warning: missing preheader" in strict.output


def test_broken_file_render_writes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "2021-07.yaml"
    good.write_text(MINIMAL, encoding="utf-8")
    bad = tmp_path / "2021-08.yaml"
    bad.write_text(MINIMAL.replace("language: de", "language: de\n  numbr: 3"), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(good), str(bad), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{bad}:4:3: unknown key 'issue.numbr'; did you mean 'number'?" in result.output
    assert "Nothing written" in result.output
    assert not out.exists()


def test_check_reports_warnings_together_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "both.yaml"
    path.write_text(
        MINIMAL.replace("date: 2021-07", "date: July")
        + "    image:\n      src: https://example.org/a.jpg\n"
        + "    links:\n      - url: http://example.org/plain\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 2
    assert result.output == (
        f"{path}:2:9: issue.date: expected a month as YYYY-MM (e.g. 2021-07), got 'July'\n"
        f"{path}:10:7: warning: image without alt text; screen readers and blocked images "
        "show nothing\n"
        f"{path}:12:14: warning: articles[0].links[0].url: insecure http:// link "
        "'http://example.org/plain'; prefer https://\n"
        "1 file(s): 1 error(s), 2 warning(s)\n"
    )


def test_check_strict_says_that_warnings_fail(tmp_path: Path) -> None:
    path = tmp_path / "warn.yaml"
    path.write_text(MINIMAL.replace('  preheader: "Kurz"\n', ""), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--strict", str(path)])
    assert (result.exit_code, result.output) == (
        2,
        f"{path}:2:3: warning: missing preheader; inboxes will show the first text of the body\n"
        "1 file(s): 0 error(s), 1 warning(s); warnings fail under --strict\n",
    )
    lenient = CliRunner().invoke(cli, ["check", str(path)])
    assert lenient.exit_code == 0
    assert lenient.output.endswith(" KB HTML\n1 file(s): 0 error(s), 1 warning(s)\n")
    assert f"{path}: ok, " in lenient.output


def test_render_output_follows_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "2021-07.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["render", str(path), "-o", str(tmp_path / "out")])
        os.umask(0o027)
        again = CliRunner().invoke(cli, ["render", str(path), "-o", str(tmp_path / "out2")])
    finally:
        os.umask(old)
    assert result.exit_code == 0 and again.exit_code == 0
    for name in ("2021-07.html", "2021-07.txt"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "out2" / name).stat().st_mode) == 0o640
