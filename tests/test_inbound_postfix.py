"""Live round trip through a real Postfix: a campaign goes out, Postfix bounces what its relay
refuses, the DSNs it writes land in a Maildir, and ``inbound process`` acts on them.

Postfix (its own instance, tests/postfix_server.py) relays to an aiosmtpd server that refuses
three unknown users (550 5.1.1), one full mailbox (552 5.2.2) and greylists one address for
ever (451: a delay warning); the sixth is accepted.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from delivery_helpers import ROOT
from postfix_server import postfix
from smtp_server import RecordingServer

ISSUE = ROOT / "issues" / "2021-07.yaml"
GONE = ["gone1@example.org", "gone2@example.com", "gone3@example.net"]
FULL, SLOW, FINE = "full@example.org", "slow@example.net", "fine@example.com"


def _wait_for(maildir: Path, n: int, log) -> list[Path]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while True:
        files = sorted((maildir / "new").iterdir())
        if len(files) >= n:
            return files
        assert time.monotonic() < deadline, f"{len(files)} of {n} notices:\n{log()[-4000:]}"
        time.sleep(0.2)


def test_postfix_round_trip(cli_run, tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(
        '[organisation]\nsender_email = "newsletter@isa.example.org"\n[delivery]\nverp = true\n'
    )
    assert cli_run("lists", "create", "news", "--name", "ISA").exit_code == 0
    for address in [*GONE, FULL, SLOW, FINE]:
        r = cli_run(
            "subscribers", "add", address, "--list", "news", "--status", "confirmed",
            "--consent-note", "postfix round trip",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    assert cli_run("campaigns", "create", str(ISSUE), "--list", "news").exit_code == 0
    with RecordingServer() as relay:
        for address in GONE:
            relay.fault(address, "550")
        relay.fault(FULL, "552")
        relay.fault(SLOW, *["451"] * 1000)
        with postfix(relay.port, "isa.example.org") as pf:
            r = cli_run(
                "campaigns", "send", "1", "--yes", "--transport", "smtp",
                "--smtp-host", pf.host, "--smtp-port", str(pf.port),
            )  # fmt: skip
            assert r.exit_code == 0, r.output
            # three non-delivery notices, one for the full mailbox, one delay warning
            _wait_for(pf.maildir, 5, pf.log)
            box = tmp_path / "Maildir"
            shutil.copytree(pf.maildir, box)
        assert [m.rcpt for m in relay.messages] == [FINE]

    r = cli_run("inbound", "process", str(box))
    assert r.exit_code == 0, r.output
    assert r.output == (
        "Processed 5 messages: 5 recorded (1 delayed, 3 hard, 1 soft).\n"
        "Decisions: 1 recorded, 1 scored, 3 suppressed.\n"
        "Moved 5; 0 already processed; 0 not ours, left untouched.\n"
    )
    rows = json.loads(cli_run("bounces", "list", "--format", "json").output)
    got = {
        b["address"]: (b["kind"], b["reason"], b["status"], b["decision"], b["attribution"])
        for b in rows
    }
    assert got == {
        **{a: ("hard", "user-unknown", "5.1.1", "suppressed", "verp") for a in GONE},
        FULL: ("soft", "mailbox-full", "5.2.2", "scored", "verp"),
        SLOW: ("delayed", None, "4.7.1", "recorded", "verp"),
    }
    suppressed = json.loads(cli_run("suppressions", "list", "--format", "json").output)
    assert sorted(s["address"] for s in suppressed) == GONE

    # The same notices again (a copy restored from a backup): nothing new happens.
    for f in (box / ".Processed" / "new").iterdir():
        shutil.copy(f, box / "new" / f.name)
    r = cli_run("inbound", "process", str(box))
    assert r.output == (
        "Processed 5 messages: 0 recorded (none).\n"
        "Moved 5; 5 already processed; 0 not ours, left untouched.\n"
    )
    assert len(json.loads(cli_run("bounces", "list", "--format", "json").output)) == 5

    first = next(b["id"] for b in rows if b["address"] == GONE[0])
    r = cli_run("bounces", "undo", str(first))
    assert r.output == f"Bounce {first} undone: {GONE[0]} is no longer suppressed.\n"
    suppressed = json.loads(cli_run("suppressions", "list", "--format", "json").output)
    assert sorted(s["address"] for s in suppressed) == GONE[1:]
