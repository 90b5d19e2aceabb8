"""The delivery commands as a user runs them: exact messages and exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from delivery_helpers import ROOT, World
from smtp_server import RecordingServer

from newsletter.cli import cli

ISSUE = ROOT / "issues" / "2021-07.yaml"


@pytest.fixture
def config(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(
        f'[organisation]\nsender_email = "newsletter@isa.example.org"\n'
        f'[database]\nurl = "{world.settings.database_url}"\n'
        f'[delivery]\ntransport = "maildir"\noutbox = "outbox"\nretry_base_seconds = 0.05\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input)


def test_create_send_show_and_log(world: World, config: Path, tmp_path: Path) -> None:
    world.add(3)
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    assert r.exit_code == 0, r.output
    assert r.output == (
        "Created campaign 1: issue 2021-07 to list news, 3 recipients.\n"
        "Editions: de 3, zh 0.\n"
        "Send it with: newsletter campaigns send 1\n"
    )
    r = run(config, "campaigns", "send", "1", "--dry-run")
    assert r.exit_code == 0
    assert r.output.startswith("Dry run: composed 3 messages, ")
    assert r.output.endswith("; nothing was sent.\n")

    r = run(config, "campaigns", "send", "1", input="n\n")
    assert r.exit_code == 0  # "n" is an answer, not a failure
    outbox = tmp_path / "outbox"
    assert r.output == (
        f'Send campaign 1 (issue 2021-07, "ISA-Newsletter Juli 2021") to 3 recipients via '
        f"maildir outbox {outbox}? [y/N]: n\nNothing sent.\n"
    )

    r = run(config, "campaigns", "send", "1", "--yes")
    assert r.exit_code == 0, r.output
    assert r.output == "Campaign 1: finished (3 sent)\n"
    assert len(list((outbox / "new").iterdir())) == 3

    r = run(config, "campaigns", "show", "1")
    assert "State:      finished\n" in r.output
    assert "Recipients: 3\n" in r.output
    assert "  sent              3\n" in r.output

    r = run(config, "campaigns", "list", "--format", "json")
    (row,) = json.loads(r.output)
    assert row | {"created": None} == {
        "id": 1,
        "kind": "campaign",
        "issue": "2021-07",
        "list": "news",
        "state": "finished",
        "recipients": 3,
        "sent": 3,
        "editions": "de zh",
        "created": None,
    }

    r = run(config, "log", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [x["status"] for x in rows] == ["sent"] * 3
    assert all(x["message_id"].endswith("@isa.example.org") for x in rows)
    assert "open" not in r.output.splitlines()[0] and "click" not in r.output.splitlines()[0]
    r = run(config, "log", "1", "--status", "failed", "--format", "json")
    assert json.loads(r.output) == []


def test_same_issue_twice_is_refused_unless_again(world: World, config: Path) -> None:
    world.add(1)
    assert run(config, "campaigns", "create", str(ISSUE), "--list", "news").exit_code == 0
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    assert r.exit_code == 2
    assert r.output == (
        "Error: issue 2021-07 already went to list news in campaign 1 (draft); "
        "use --again to send it once more\n"
    )
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "news", "--again")
    assert r.exit_code == 0
    assert r.output.startswith("Created campaign 2: issue 2021-07 to list news, 1 recipients.\n")


def test_proof_is_sent_and_logged_as_proof(world: World, config: Path) -> None:
    with RecordingServer() as srv:
        r = run(
            config,
            "send",
            str(ISSUE),
            "--to",
            "editor@example.org",
            "--transport",
            "smtp",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(srv.port),
        )
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Proof of 2021-07 to editor@example.org: sent (250 2.0.0 Ok")
    assert r.output.endswith(") — logged with issue 2021-07 as proof 1 (newsletter log -- -1)\n")
    assert srv.received_by() == {"editor@example.org": 1}
    assert srv.messages[0].message["Subject"] == "ISA-Newsletter Juli 2021"
    r = run(config, "send", str(ISSUE), "--to", "editor@example.org", "--transport", "dry-run")
    assert r.output.endswith("— logged with issue 2021-07 as proof 2 (newsletter log -- -2)\n")
    r = run(config, "campaigns", "list", "--proofs", "--format", "json")
    assert [(c["id"], c["kind"]) for c in json.loads(r.output)] == [(-2, "proof"), (-1, "proof")]
    r = run(config, "log", "--format", "csv", "--", "-1")
    assert r.exit_code == 0 and ",editor@example.org,sent," in r.output
    # a proof does not count as having sent the issue to the list, nor uses up its number
    world.add(1)
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    assert r.output.startswith("Created campaign 1: issue 2021-07 to list news, 1 recipients.")


def test_campaigns_list_hides_proofs_unless_asked(world: World, config: Path) -> None:
    """An editor's proofs (negative ids) came first in every listing, before the campaigns."""
    world.add(2)
    for _ in range(2):
        r = run(config, "send", str(ISSUE), "--to", "editor@example.org", "--transport", "dry-run")
        assert r.exit_code == 0, r.output
    r = run(config, "campaigns", "list", "--format", "csv")
    assert r.output == "id,kind,issue,list,editions,state,recipients,sent,created\n"
    run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    r = run(config, "campaigns", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(row["id"], row["kind"], row["recipients"]) for row in rows] == [("1", "campaign", "2")]
    r = run(config, "campaigns", "list")  # the table a person reads
    assert r.exit_code == 0 and "proof" not in r.output
    assert [line.split("│")[:2] for line in r.output.splitlines()[2:]] == [["1  ", " campaign "]]
    r = run(config, "campaigns", "list", "--proofs", "--format", "json")
    listed = [(row["id"], row["kind"]) for row in json.loads(r.output)]
    assert listed == [(-2, "proof"), (-1, "proof"), (1, "campaign")]
    r = run(config, "campaigns", "list", "--proofs")
    listed = [line.split("│")[0].strip() for line in r.output.splitlines()[2:]]
    assert r.exit_code == 0 and listed == ["-2", "-1", "1"]


def test_pause_and_cancel(world: World, config: Path) -> None:
    world.add(2)
    run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    r = run(config, "campaigns", "pause", "1")
    assert r.output == "Campaign 1 paused; continue with: newsletter campaigns resume 1\n"
    r = run(config, "campaigns", "cancel", "1")
    assert r.output == "Campaign 1 cancelled; 2 deliveries will not be sent.\n"
    r = run(config, "campaigns", "resume", "1")
    assert r.exit_code == 2 and r.output == "Error: campaign 1 is cancelled\n"
    r = run(config, "campaigns", "show", "99")
    assert r.exit_code == 2
    assert r.output == "Error: no campaign 99; see: newsletter campaigns list\n"


def test_demo_runs_twice_and_ignores_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text('[delivery]\ntransport = "smtp"\n', encoding="utf-8")
    for _ in range(2):
        r = run(config, "demo", "--dir", str(tmp_path / "demo"))
        assert r.exit_code == 0, r.output
        assert r.output.startswith("Imported 50 sample subscribers (0 rows rejected); 47 ")
        assert "\n  sent           47\n" in r.output
        assert len(list((tmp_path / "demo" / "outbox" / "new").iterdir())) == 47
        assert len(list((tmp_path / "demo" / "eml").iterdir())) == 47
    # the list the README's tour uses, so the demo's database reads like the tour
    database = f"sqlite:///{tmp_path / 'demo' / 'newsletter.sqlite'}"
    listed = run(config, "--database", database, "lists", "list", "--format", "csv").output
    assert listed.splitlines()[1].startswith("isa-de,")


def test_the_demo_data_is_the_isa_data_of_the_checkout() -> None:
    """The package ships copies (a wheel cannot reach outside the package); keep them equal."""
    from newsletter import demo

    for shipped, source in (
        (demo.SAMPLE_ISSUE, ROOT / "issues" / "2021-07.yaml"),
        (demo.SAMPLE_EDITION, ROOT / "issues" / "2021-07.zh.yaml"),
        (demo.SAMPLE_PROFILE, ROOT / "newsletter.toml"),
        (demo.SAMPLE_SUBSCRIBERS, ROOT / "subscribers" / "sample.csv"),
    ):
        assert shipped.read_bytes() == source.read_bytes(), f"copy {source} to {shipped}"


def test_proof_to_a_bad_address_is_bad_input(world: World, config: Path) -> None:
    for bad in ("editor@example", "editor@example.org\r\nRCPT TO:<x@example.net>", ""):
        r = run(config, "send", str(ISSUE), "--to", bad, "--transport", "dry-run")
        assert r.exit_code == 2, (bad, r.output)
        assert r.output.startswith("Error: --to: "), r.output
    r = run(config, "campaigns", "list", "--proofs", "--format", "json")
    assert json.loads(r.output) == []  # nothing was created or logged


def test_a_failed_proof_ends_failed_with_its_reason(world: World, config: Path) -> None:
    with RecordingServer() as srv:
        port = srv.port  # closed again: nothing listens there
    r = run(
        config, "send", str(ISSUE), "--to", "editor@example.org", "--transport", "smtp",
        "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
    )  # fmt: skip
    assert r.exit_code == 1
    assert r.output.startswith(
        f"Proof of 2021-07 to editor@example.org: failed (cannot connect to 127.0.0.1:{port}: "
    )
    assert r.output.endswith(" — logged with issue 2021-07 as proof 1 (newsletter log -- -1)\n")
    assert "resume" not in r.output
    r = run(config, "campaigns", "list", "--proofs", "--format", "json")
    assert [(c["kind"], c["state"]) for c in json.loads(r.output)] == [("proof", "failed")]

    # a temporary refusal fails the proof at once: it is a check, not a campaign
    with RecordingServer() as srv:
        srv.fault("editor@example.org", "451")
        r = run(
            config, "send", str(ISSUE), "--to", "editor@example.org", "--transport", "smtp",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(srv.port),
        )  # fmt: skip
    assert r.exit_code == 1
    assert r.output == (
        "Proof of 2021-07 to editor@example.org: failed "
        "(451 4.7.1 Greylisted, try again later) — logged with issue 2021-07 as proof 2 "
        "(newsletter log -- -2)\n"
    )


def test_send_of_a_started_campaign_says_use_resume(world: World, config: Path) -> None:
    world.add(2)
    run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    run(config, "campaigns", "pause", "1")
    r = run(config, "campaigns", "send", "1", "--yes")
    assert r.exit_code == 1
    assert r.output == ("Error: campaign 1 is paused; use resume: newsletter campaigns resume 1\n")


def test_resume_asks_first_unless_yes(world: World, config: Path, tmp_path: Path) -> None:
    world.add(2)
    run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    run(config, "campaigns", "pause", "1")
    r = run(config, "campaigns", "resume", "1", input="n\n")
    assert r.exit_code == 0
    assert r.output == (
        'Resume campaign 1 (issue 2021-07, "ISA-Newsletter Juli 2021"): 2 messages to send '
        f"via maildir outbox {tmp_path / 'outbox'}? [y/N]: n\nNothing sent.\n"
    )
    assert world.counts(1) == {"queued": 2}
    r = run(config, "campaigns", "resume", "1", "--yes")
    assert (r.exit_code, r.output) == (0, "Campaign 1: finished (2 sent)\n")


def test_resume_resend_unknown_sends_the_unknown_again(world: World, config: Path) -> None:
    _, lost, _ = world.add(3)
    run(config, "campaigns", "create", str(ISSUE), "--list", "news")
    with RecordingServer() as srv:
        smtp = ["--transport", "smtp", "--smtp-host", "127.0.0.1", "--smtp-port", str(srv.port)]
        srv.fault(lost, "drop")  # the connection drops after the whole message: unknown
        r = run(config, "campaigns", "send", "1", "--yes", *smtp)
        assert r.output.startswith("Campaign 1: finished with 1 unknown (2 sent, 1 unknown)\n")
        # a plain resume leaves it alone
        r = run(config, "campaigns", "resume", "1", "--yes", *smtp)
        assert r.output.startswith("Campaign 1: finished with 1 unknown (2 sent, 1 unknown)\n")
        assert lost not in srv.received_by()
        r = run(config, "campaigns", "resume", "1", "--resend-unknown", *smtp, input="y\n")
        assert r.exit_code == 0, r.output
        assert "2 messages to send" not in r.output
        assert "1 messages to send, 1 of them with an unknown outcome (they may get it twice)" in (
            r.output
        )
        assert r.output.endswith("Campaign 1: finished (3 sent)\n")
        assert srv.received_by()[lost] == 1
    assert world.log(1)[lost].attempts == 2
