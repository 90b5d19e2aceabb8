"""End to end: a campaign goes out over SMTP, two of its deliveries bounce back as DSNs in a
Maildir, ``inbound process`` suppresses the hard one (the next campaign leaves it out) and
scores the soft one, and ``bounces undo`` brings the hard one back."""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from delivery_helpers import ROOT
from smtp_server import RecordingServer

ISSUE = ROOT / "issues" / "2021-07.yaml"
PEOPLE = ["anna@example.com", "bert@example.net", "carla@example.org"]


def _dsn(return_path: str, original: bytes, recipient: str, status: str, reply: str) -> bytes:
    """A DSN the way Postfix writes one: notification, delivery-status, returned headers."""
    headers = original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
        f"To: {return_path}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n<{recipient}>: host mx.example.com said: {reply}\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {reply}\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\n{headers}\n--b--\n"
    ).encode()


def _maildir(path: Path, messages: list[bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True)
    for i, data in enumerate(messages):
        (path / "new" / f"1764580000.M{i}P1.mx").write_bytes(data)
    return path


def test_send_bounce_process_exclude_undo(cli_run, tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text(
        '[organisation]\nsender_email = "newsletter@isa.example.org"\n[delivery]\nverp = true\n'
    )
    assert cli_run("lists", "create", "news", "--name", "ISA").exit_code == 0
    for address in PEOPLE:
        r = cli_run(
            "subscribers", "add", address, "--list", "news", "--status", "confirmed",
            "--consent-note", "end-to-end test",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    assert cli_run("campaigns", "create", str(ISSUE), "--list", "news").exit_code == 0
    with RecordingServer() as smtp:
        r = cli_run(
            "campaigns", "send", "1", "--yes", "--transport", "smtp",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        received = {m.rcpt: m for m in smtp.messages}
    assert sorted(received) == PEOPLE
    anna, bert = received["anna@example.com"], received["bert@example.net"]
    assert anna.mail_from.startswith("bounces+") and anna.mail_from.endswith("@isa.example.org")
    box = _maildir(
        tmp_path / "bounces",
        [
            _dsn(anna.mail_from, anna.data, "anna@example.com", "5.1.1",
                 "550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown"),
            _dsn(bert.mail_from, bert.data, "bert@example.net", "5.2.2",
                 "552 5.2.2 <bert@example.net>: Mailbox full"),
        ],
    )  # fmt: skip

    r = cli_run("inbound", "process", str(box))
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[:2] == [
        "Processed 2 messages: 2 recorded (1 hard, 1 soft).",
        "Decisions: 1 scored, 1 suppressed.",
    ]
    bounces = json.loads(cli_run("bounces", "list", "--format", "json").output)
    assert [
        (b["address"], b["kind"], b["decision"], b["score"], b["attribution"]) for b in bounces
    ] == [
        ("bert@example.net", "soft", "scored", 0.5, "verp"),
        ("anna@example.com", "hard", "suppressed", None, "verp"),
    ]
    log = json.loads(cli_run("log", "1", "--format", "json").output)
    assert {row["address"]: row["bounce"] for row in log} == {
        "anna@example.com": "hard suppressed (bounce 1)",
        "bert@example.net": "soft scored (bounce 2)",
        "carla@example.org": None,
    }

    r = cli_run("campaigns", "create", str(ISSUE), "--list", "news", "--again")
    assert re.search(r"(?<![0-9])2 recipients", r.output), r.output
    addresses = [
        row["address"] for row in json.loads(cli_run("log", "2", "--format", "json").output)
    ]
    assert addresses == ["bert@example.net", "carla@example.org"]

    r = cli_run("bounces", "undo", "1")
    assert r.output == "Bounce 1 undone: anna@example.com is no longer suppressed.\n"
    r = cli_run("campaigns", "create", str(ISSUE), "--list", "news", "--again")
    assert re.search(r"(?<![0-9])3 recipients", r.output), r.output
    data = json.loads(cli_run("subscribers", "data", "anna@example.com").output)
    assert [e["action"] for e in data["consent_log"]][-2:] == ["suppress", "unsuppress"]
    assert data["bounces"][0]["decision"] == "undone"


def test_the_dsn_helper_writes_a_multipart_report(tmp_path: Path) -> None:
    raw = _dsn(
        "bounces+1-x@isa.example.org",
        b"Message-ID: <a.1@isa.example.org>\r\n\r\nbody",
        "a@example.com",
        "5.1.1",
        "550 5.1.1 unknown",
    )
    msg = BytesParser(policy=compat32).parsebytes(raw)
    assert msg.get_content_type() == "multipart/report"
    assert [p.get_content_type() for p in msg.get_payload()] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
