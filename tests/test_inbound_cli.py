"""``inbound process`` and ``bounces list|show|undo`` as a user runs them; and where
bounces show up elsewhere: ``campaigns show``, ``log``, ``subscribers data``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import Result
from inbound_helpers import EXPECTED, Sent


def _processed(sent: Sent, newsletter, files: list[str]) -> Result:
    box = sent.maildir("Maildir", files)
    return newsletter("inbound", "process", str(box))


def test_process_prints_what_it_did(sent: Sent, newsletter) -> None:
    r = _processed(sent, newsletter, sorted(EXPECTED))
    assert r.exit_code == 0, r.output
    assert r.output == (
        "Processed 25 messages: 21 recorded (5 auto-reply, 1 challenge, 1 complaint, "
        "1 delayed, 7 hard, 3 soft, 1 unsubscribe, 2 unverified).\n"
        "Decisions: 10 recorded, 2 scored, 8 suppressed, 1 unsubscribed.\n"
        "Moved 21; 0 already processed; 4 not ours, left untouched.\n"
    )
    r = newsletter("inbound", "process", str(sent.tmp / "Maildir"))
    assert r.output == (
        "Processed 4 messages: 0 recorded (none).\n"
        "Moved 0; 0 already processed; 4 not ours, left untouched.\n"
    )


def test_a_source_that_is_no_mailbox_is_bad_input(sent: Sent, newsletter) -> None:
    (sent.tmp / "folder").mkdir()
    r = newsletter("inbound", "process", "folder")
    assert (r.exit_code, r.output) == (
        2,
        "Error: folder: not a Maildir (needs cur/, new/ and tmp/)\n",
    )
    r = newsletter("inbound", "process", "missing")
    assert (r.exit_code, r.output) == (
        2,
        "Error: missing: no such Maildir, mbox file or imap:// URL\n",
    )


def test_bounces_list_in_every_format(sent: Sent, newsletter) -> None:
    _processed(sent, newsletter, ["gmail_hard.eml", "postfix_mailbox_full.eml", "ooo_german.eml"])
    r = newsletter("bounces", "list", "--kind", "hard", "--format", "json")
    (row,) = json.loads(r.output)
    assert {k: row[k] for k in ("id", "kind", "address", "status", "decision", "campaign")} == {
        "id": 1,
        "kind": "hard",
        "address": "gustav@example.com",
        "status": "5.1.1",
        "decision": "suppressed",
        "campaign": sent.campaign_id,
    }
    rows = list(
        csv.DictReader(io.StringIO(newsletter("bounces", "list", "--format", "csv").output))
    )
    assert [(x["id"], x["kind"], x["decision"]) for x in rows] == [
        ("3", "auto-reply", "recorded"),
        ("2", "soft", "scored"),
        ("1", "hard", "suppressed"),
    ]
    table = newsletter("bounces", "list").output
    assert "suppressed" in table and "auto-reply" in table
    assert newsletter("bounces", "list", "--since", "2999-01-01").output == "No bounces recorded.\n"
    r = newsletter("bounces", "list", "--since", "yesterday")
    assert r.exit_code == 2 and "use YYYY-MM-DD" in r.output


def test_bounces_show_and_undo(sent: Sent, newsletter) -> None:
    _processed(sent, newsletter, ["postfix_hard_user_unknown.eml"])
    r = newsletter("bounces", "show", "1")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == "Bounce 1: hard, suppressed"
    assert lines[2] == "Address:     anna@example.com (by verp)"
    assert lines[3] == f"Delivery:    1 of campaign {sent.campaign_id}"
    assert lines[4] == "Reason:      user-unknown"
    assert lines[5].startswith("Status:      5.1.1 smtp; 550 5.1.1 <anna@example.com>")
    assert "  RFC 3464 DSN, Action: failed: user-unknown (5.1.1; hard)" in lines
    assert "Subject: Undelivered Mail Returned to Sender" in lines
    assert "Final-Recipient: rfc822; anna@example.com" in lines
    assert (
        newsletter("suppressions", "list", "--format", "json").output.count("anna@example.com") == 1
    )

    r = newsletter("bounces", "undo", "1")
    assert (r.exit_code, r.output) == (
        0,
        "Bounce 1 undone: anna@example.com is no longer suppressed.\n",
    )
    assert "anna@example.com" not in newsletter("suppressions", "list", "--format", "json").output
    r = newsletter("bounces", "undo", "1")
    assert r.exit_code == 2 and r.output.startswith("Error: bounce 1 was already undone on ")
    assert (
        newsletter("bounces", "show", "9").output
        == "Error: no bounce 9; see: newsletter bounces list\n"
    )


def test_undo_of_a_bounce_that_suppressed_nothing(sent: Sent, newsletter) -> None:
    _processed(sent, newsletter, ["ooo_english.eml"])
    r = newsletter("bounces", "undo", "1")
    assert (r.exit_code, r.output) == (
        2,
        "Error: bounce 1 did not suppress anything (decision: recorded)\n",
    )


def test_log_and_subscribers_data_show_the_bounce(sent: Sent, newsletter) -> None:
    _processed(sent, newsletter, ["gmail_hard.eml"])
    rows = json.loads(newsletter("log", str(sent.campaign_id), "--format", "json").output)
    by_address = {row["address"]: row["bounce"] for row in rows}
    assert by_address["gustav@example.com"] == "hard suppressed (bounce 1)"
    assert by_address["anna@example.com"] is None
    data = json.loads(newsletter("subscribers", "data", "gustav@example.com").output)
    (bounce,) = data["bounces"]
    assert (bounce["kind"], bounce["status"], bounce["decision"]) == ("hard", "5.1.1", "suppressed")
    assert data["deliveries"][0]["status"] == "sent"


def test_campaigns_show_warns_about_the_complaint_rate(
    sent: Sent,
    newsletter,
) -> None:
    r = newsletter("campaigns", "show", str(sent.campaign_id))
    assert "Complaints: 0 of 23 sent (0.00%)" in r.output
    assert "warning" not in r.output and "error" not in r.output
    _processed(sent, newsletter, ["arf_complaint.eml"])
    r = newsletter("campaigns", "show", str(sent.campaign_id))
    assert "Complaints: 1 of 23 sent (4.35%)\n" in r.output
    assert (
        "error: complaint rate 4.35% is above 0.3 %, the limit above which Gmail rejects or "
        "junks bulk mail; check the list's consent and unsubscribe link\n"
    ) in r.output


def test_complaint_rate_levels() -> None:
    from newsletter.inbound.summary import ComplaintRate

    assert ComplaintRate(1, 1000).level == "ok"
    assert ComplaintRate(2, 1000).level == "warning"
    assert ComplaintRate(3, 1000).level == "warning"
    assert ComplaintRate(4, 1000).level == "error"
    assert ComplaintRate(0, 0).level == "ok"


def test_help_texts_have_examples(newsletter) -> None:
    for command in (["inbound", "process"], ["bounces", "list"], ["bounces", "undo"]):
        assert "Example" in newsletter(*command, "--help").output


def _separate(sent: Sent, *args: str, close_stdout: bool = False) -> subprocess.CompletedProcess:
    """``newsletter ARGS`` as its own process: only the modules the command imports are loaded."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "newsletter", *args]
    if not close_stdout:
        return subprocess.run(
            command, cwd=sent.tmp, env=env, capture_output=True, text=True, timeout=120
        )
    # The reader is gone before the first line is written: `newsletter … | head -0`.
    p = subprocess.Popen(
        command, cwd=sent.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(command, p.returncode, "", err)


def test_bounces_undo_works_as_a_command_of_its_own(sent: Sent, newsletter) -> None:
    """It failed with 'could not find table delivery': its own process never loaded that model."""
    _processed(sent, newsletter, ["postfix_hard_user_unknown.eml"])
    r = _separate(sent, "bounces", "undo", "1")
    assert (r.returncode, r.stdout, r.stderr) == (
        0,
        "Bounce 1 undone: anna@example.com is no longer suppressed.\n",
        "",
    )
    r = _separate(sent, "bounces", "list", "--format", "csv")
    assert r.returncode == 0 and ",undone," in r.stdout


def test_a_closed_pipe_ends_quietly_with_exit_0(sent: Sent, newsletter) -> None:
    box = sent.maildir("Maildir", ["postfix_hard_user_unknown.eml", "foreign_bounce.eml"])
    r = _separate(sent, "inbound", "process", str(box), close_stdout=True)
    assert (r.returncode, r.stderr) == (0, "")
    # the work was done and committed before the output was lost
    assert _separate(sent, "bounces", "list", "--format", "csv").stdout.count("\n") == 2


def test_a_maildir_with_nothing_of_ours_gets_no_processed_folder(sent: Sent, newsletter) -> None:
    box = sent.maildir("Maildir", ["foreign_bounce.eml", "human_reply.eml"])
    r = newsletter("inbound", "process", str(box))
    assert r.output.endswith("Moved 0; 0 already processed; 2 not ours, left untouched.\n")
    assert sorted(p.name for p in box.iterdir()) == ["cur", "new", "tmp"]


def test_bounces_list_kind_unverified(sent: Sent, newsletter) -> None:
    _processed(sent, newsletter, ["dsn_recipient_only.eml", "gmail_hard.eml"])
    r = newsletter("bounces", "list", "--kind", "unverified", "--format", "json")
    (row,) = json.loads(r.output)
    assert {k: row[k] for k in ("kind", "address", "reason", "decision", "attribution")} == {
        "kind": "unverified",
        "address": "vera@example.org",
        "reason": "user-unknown",
        "decision": "recorded",
        "attribution": "dsn-recipient",
    }
