"""docs/subscribers.md and the README show real output: every ``$ newsletter …`` line is run here.

The commands run in order, in an empty directory holding ``subscribers/sample.csv``
and any file shown in a ```` ```csv FILENAME ```` block, and their output must
match the document (dates and times aside, which change every run). After
changing a command's output, regenerate the document with::

    UPDATE_DOCS=1 python -m pytest tests/test_subscribers_docs.py
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = {ROOT / "docs" / "subscribers.md": 15, ROOT / "README.md": 7}  # document: commands
BLOCK = re.compile(r"```(console|csv) ?(\S*)\n(.*?)```", re.S)
TIMES = re.compile(r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00| UTC)?)?")


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in TIMES.sub("<time>", text).splitlines())


def _run(command: str) -> str:
    words = shlex.split(command.split(" | ")[0])
    assert words[0] == "newsletter", command
    result = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
    output = result.output
    lines = [line.rstrip() for line in output.splitlines()]  # rich pads tables with spaces
    if " | head -n " in command:
        lines = lines[: int(command.rsplit(" ", 1)[1])]
    return "".join(f"{line}\n" for line in lines)


def _replay(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Run every block; return the document with fresh outputs and (command, shown, got)."""
    checks: list[tuple[str, str, str]] = []
    pieces, last = [], 0
    for m in BLOCK.finditer(text):
        kind, name, body = m.groups()
        if kind == "csv":
            Path(name).write_text(body, encoding="utf-8")
            continue
        fresh = []
        for chunk in re.split(r"^(?=\$ )", body, flags=re.M):
            if not chunk.strip():
                continue
            command, _, shown = chunk.partition("\n")
            got = _run(command[2:])
            checks.append((command, shown, got))
            fresh.append(f"{command}\n{got}")
        pieces.append(text[last : m.start(3)] + "".join(fresh))
        last = m.end(3)
    pieces.append(text[last:])
    return "".join(pieces), checks


@pytest.mark.parametrize("doc", list(DOCS), ids=lambda p: p.name)
def test_docs_show_real_output(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")  # rich tables as wide as the document allows
    for var in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL", "NEWSLETTER_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "subscribers").mkdir()
    shutil.copy(ROOT / "subscribers" / "sample.csv", tmp_path / "subscribers" / "sample.csv")
    text = doc.read_text(encoding="utf-8")
    updated, checks = _replay(text)
    if os.environ.get("UPDATE_DOCS"):
        doc.write_text(updated, encoding="utf-8")
        return
    assert len(checks) >= DOCS[doc]
    for command, shown, got in checks:
        assert _normalise(got) == _normalise(shown), command
