"""docs/inbound.md shows real output: its ``$ newsletter …`` lines are run on the fixtures."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from inbound_helpers import EXPECTED, Sent

DOC = Path(__file__).resolve().parents[1] / "docs" / "inbound.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def test_docs_inbound_console_block_is_real_output(sent: Sent, newsletter) -> None:
    (block,) = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    sent.maildir("Maildir", sorted(EXPECTED))
    commands = re.split(r"^\$ ", block, flags=re.M)[1:]
    assert len(commands) == 4
    for chunk in commands:
        line, _, expected = chunk.partition("\n")
        args = shlex.split(line)
        assert args[0] == "newsletter"
        r = newsletter(*args[1:])
        assert r.output == expected, line
