"""Documentation stays true: README examples are run, the format doc's example validates."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.issue.load import parse_issue

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_setup_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block and README.index(block.group(0)) < README.index("\n## ")
    lines = block.group(1).strip().splitlines()
    assert lines == [
        "python -m pip install . && newsletter demo",
        'python -m pip install ".[test]" && python -m pytest',
    ]


def test_readme_check_example_is_real_output(tmp_path: Path, monkeypatch) -> None:
    shown = re.search(r"\$ newsletter check (\S+)\n(.*?)```", README, re.S)
    assert shown
    name, expected = shown.group(1), shown.group(2)
    target = tmp_path / name
    target.parent.mkdir(parents=True)
    target.write_text((ROOT / "tests" / "fixtures" / "readme-check.yaml").read_text("utf-8"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", name])
    assert result.exit_code == 2
    assert result.output == expected


def test_readme_yaml_example_validates() -> None:
    example = re.search(r"```yaml\n(issue:.*?)```", README, re.S)
    assert example
    parse_issue(example.group(1), "README.md")


def test_issue_format_doc_example_validates() -> None:
    doc = (ROOT / "docs" / "issue-format.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(issue:.*?)```", doc, re.S)
    assert example
    issue, _ = parse_issue(example.group(1), "docs/issue-format.md")
    assert issue.events[0].speakers and issue.articles[0].sections
    assert yaml.safe_load(example.group(1))["issue"]["language"] == "de"


def test_cli_reference_is_up_to_date() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_demo_output_is_real(tmp_path: Path, monkeypatch) -> None:
    """In an empty folder: the demo needs nothing but the package."""
    monkeypatch.chdir(tmp_path)
    for var in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL", "NEWSLETTER_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    shown = re.search(
        r"it prints \(`tests/test_docs.py` checks this\):\n\n```text\n(.*?)```", README, re.S
    )
    assert shown
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.output == shown.group(1)
    maildir = sorted((tmp_path / "demo" / "outbox" / "new").iterdir())
    eml = sorted((tmp_path / "demo" / "eml").iterdir())
    assert len(maildir) == len(eml) == 47
    assert eml[0].name == "001-anna.mueller@example.org.eml"
    assert sorted(p.read_bytes() for p in eml) == sorted(p.read_bytes() for p in maildir)
