"""An IDN address is one address in both spellings: we store Unicode, MTAs and DSNs say ASCII."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNICODE = "zoe@bücher.example.com"
ASCII = "zoe@xn--bcher-kva.example.com"


def test_address_forms_give_both_spellings_of_a_domain() -> None:
    from newsletter.subscribers.addresses import address_forms

    assert address_forms(UNICODE) == (UNICODE, ASCII)
    assert address_forms("ZOE@XN--BCHER-KVA.example.com") == (ASCII, UNICODE)
    assert address_forms("bücher.example") == ("bücher.example", "xn--bcher-kva.example")
    assert address_forms("Anna@Example.org") == ("anna@example.org",)
    assert address_forms("zoe") == ("zoe",)


def test_log_suppressions_and_subscribers_find_either_spelling(cli_run) -> None:  # type: ignore[no-untyped-def]
    assert cli_run("lists", "create", "news").exit_code == 0
    for address in (UNICODE, "anna@example.org"):
        r = cli_run("subscribers", "add", address, "--list", "news", "--status", "confirmed",
                    "--consent-note", "test")  # fmt: skip
        assert r.exit_code == 0, r.output
    issue = str(ROOT / "issues" / "2021-07.yaml")
    assert cli_run("campaigns", "create", issue, "--list", "news").exit_code == 0
    assert cli_run("campaigns", "send", "1", "--yes").exit_code == 0

    for needle in (ASCII, UNICODE, "xn--bcher-kva", "BÜCHER.example.com"):
        log = cli_run("log", "1", "--search", needle, "--format", "csv").output.splitlines()
        assert len(log) == 2 and log[1].split(",")[1:3] == [UNICODE, "sent"], needle
        people = cli_run("subscribers", "list", "--search", needle, "--format", "csv").output
        assert people.splitlines()[1].split(",")[1] == UNICODE, needle

    r = cli_run("suppressions", "add", ASCII, "--reason", "bounced")
    assert r.exit_code == 0, r.output
    for needle in (ASCII, UNICODE, "bücher"):
        listed = cli_run("suppressions", "list", "--search", needle, "--format", "csv").output
        assert len(listed.splitlines()) == 2 and UNICODE in listed, needle
    again = cli_run("subscribers", "show", UNICODE).output
    assert "bounced" in again
