"""``newsletter subscribers`` and ``suppressions``: the exact messages an admin sees."""

from __future__ import annotations

import json

import click
import pytest

from newsletter.cli import cli

MY_GROUPS = ("lists", "subscribers", "suppressions", "db")


def _commands() -> list[tuple[str, click.Command]]:
    found = []
    for group_name in MY_GROUPS:
        group = cli.get_command(click.Context(cli), group_name)
        assert isinstance(group, click.Group)
        found.append((group_name, group))
        found += [(f"{group_name} {n}", c) for n, c in group.commands.items()]
    return found


@pytest.mark.parametrize(("name", "command"), _commands(), ids=lambda x: str(x))
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help and "Example" in command.help, name


def test_add_show_edit(cli_run) -> None:
    cli_run("lists", "create", "news")
    r = cli_run(
        "subscribers",
        "add",
        "Anna@Example.org",
        "--list",
        "news",
        "--name",
        "Anna Müller",
        "--language",
        "de",
        "--attr",
        "city=Köln",
    )
    assert (r.exit_code, r.output) == (0, "Added Anna@example.org to news (unconfirmed).\n")
    r = cli_run("subscribers", "add", "anna@example.org", "--list", "news")
    assert (r.exit_code, r.output) == (0, "Added Anna@example.org to news (unconfirmed).\n")
    r = cli_run(
        "subscribers", "edit", "anna@example.org", "--name", "Anna Schmidt", "--unset-attr", "city"
    )
    assert (r.exit_code, r.output) == (0, "Updated anna@example.org: name, attributes.\n")
    r = cli_run("subscribers", "edit", "1", "--name", "Anna Schmidt")
    assert r.output == "1: nothing changed.\n"
    r = cli_run("subscribers", "show", "1")
    lines = r.output.splitlines()
    assert lines[:3] == ["Anna@example.org (id 1)", "  name: Anna Schmidt", "  language: de"]
    assert lines[-1].startswith("  news: unconfirmed since ")
    assert lines[-1].endswith(" (source: cli)")


def test_bad_input_exits_2_with_one_clear_message(cli_run) -> None:
    cli_run("lists", "create", "news")
    cases = {
        ("subscribers", "add", "anna@example"): (
            "Error: invalid address 'anna@example': The part after the @-sign is not valid. "
            "It should have a period.\n"
        ),
        ("subscribers", "add", "a@example.org", "--list", "nope"): (
            "Error: list: unknown list 'nope'; existing lists: news\n"
        ),
        ("subscribers", "add", "a@example.org", "--attr", "city"): (
            "Error: attr: --attr 'city': use KEY=VALUE\n"
        ),
        ("subscribers", "add", "a@example.org", "--language", "Deutsch"): (
            "Error: language: invalid language 'Deutsch': use a code like de, en or zh-Hans\n"
        ),
        ("subscribers", "show", "nobody@example.org"): (
            "Error: address: no subscriber nobody@example.org\n"
        ),
        ("subscribers", "unsubscribe", "nobody@example.org", "--list", "news"): (
            "Error: address: no subscriber nobody@example.org\n"
        ),
        ("suppressions", "remove", "a@example.org"): (
            "Error: address: a@example.org is not suppressed\n"
        ),
    }
    for args, message in cases.items():
        r = cli_run(*args)
        assert (r.exit_code, r.output) == (2, message), args
    assert cli_run("subscribers", "list", "--format", "csv").output.count("\n") == 1


def test_role_addresses_are_accepted_with_a_warning(cli_run) -> None:
    r = cli_run("subscribers", "add", "postmaster@example.org")
    assert r.exit_code == 0
    assert r.stdout == "Added postmaster@example.org (unconfirmed).\n"
    assert r.stderr == (
        "Warning: postmaster@example.org is a role address (a team or a machine, not a person).\n"
    )


def test_unsubscribe_everywhere_suppresses(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("lists", "create", "events")
    cli_run("subscribers", "add", "anna@example.org", "--list", "news", "--list", "events")
    r = cli_run("subscribers", "unsubscribe", "anna@example.org", "--list", "news")
    assert r.output == "Unsubscribed anna@example.org from news.\n"
    r = cli_run("subscribers", "unsubscribe", "anna@example.org", "--list", "news")
    assert r.output == "anna@example.org was already unsubscribed from news.\n"
    r = cli_run("subscribers", "unsubscribe", "anna@example.org")
    assert r.output == (
        "Unsubscribed anna@example.org from all lists (events) and suppressed the address.\n"
    )
    r = cli_run("subscribers", "add", "anna@example.org", "--list", "news")
    assert r.exit_code == 2
    assert r.output.startswith("Error: address: anna@example.org is suppressed (unsubscribed on ")
    assert r.output.endswith(
        "and cannot be subscribed; if that is wrong, first run: "
        "newsletter suppressions remove anna@example.org\n"
    )


def test_resubscribing_needs_a_reason(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "anna@example.org", "--list", "news")
    cli_run("subscribers", "unsubscribe", "anna@example.org", "--list", "news")
    r = cli_run("subscribers", "add", "anna@example.org", "--list", "news")
    assert r.exit_code == 2
    assert "anna@example.org unsubscribed from news on " in r.output
    assert r.output.endswith('if they asked to come back, add --resubscribe --consent-note "…"\n')
    r = cli_run(
        "subscribers",
        "add",
        "anna@example.org",
        "--list",
        "news",
        "--resubscribe",
        "--consent-note",
        "wrote to us on 2024-05-02",
    )
    assert (r.exit_code, r.output) == (0, "Added anna@example.org to news (unconfirmed).\n")
    log = json.loads(cli_run("subscribers", "data", "anna@example.org").output)["consent_log"]
    assert [e["action"] for e in log] == ["subscribe", "unsubscribe", "resubscribe"]


def test_list_filters_and_formats(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("lists", "create", "events")
    cli_run(
        "subscribers",
        "add",
        "anna@example.org",
        "--list",
        "news",
        "--name",
        "Anna Müller",
        "--status",
        "confirmed",
        "--consent-note",
        "form",
    )
    cli_run("subscribers", "add", "bob@example.com", "--list", "events", "--name", "Bob")
    cli_run("suppressions", "add", "bob@example.com", "--reason", "bounced")

    def emails(*args: str) -> list[str]:
        r = cli_run("subscribers", "list", "--format", "json", *args)
        return [row["email"] for row in json.loads(r.output)]

    assert emails() == ["anna@example.org", "bob@example.com"]
    assert emails("--list", "news") == ["anna@example.org"]
    assert emails("--status", "unconfirmed") == ["bob@example.com"]
    assert emails("--search", "MÜLLER") == ["anna@example.org"]
    r = cli_run("subscribers", "list", "--list", "events", "--format", "csv")
    assert r.output.splitlines()[1].startswith("2,bob@example.com,Bob,,events:unconfirmed,bounced,")
    r = cli_run("subscribers", "list", "--search", "nobody")
    assert r.output == "No subscribers found.\n"


def test_remove_keeps_suppressions(cli_run) -> None:
    cli_run("subscribers", "add", "typo@exmaple.org")
    cli_run("suppressions", "add", "typo@exmaple.org")
    r = cli_run("subscribers", "remove", "typo@exmaple.org", "--yes")
    assert (r.exit_code, r.output) == (0, "Removed typo@exmaple.org.\n")
    assert cli_run("subscribers", "list").output == "No subscribers found.\n"
    assert "typo@exmaple.org" in cli_run("suppressions", "list", "--format", "csv").output


def test_suppressions_add_list_remove(cli_run) -> None:
    r = cli_run("suppressions", "add", "Spam@Example.com", "--detail", "asked by phone")
    assert (r.exit_code, r.output) == (0, "Suppressed Spam@Example.com (manual).\n")
    r = cli_run("suppressions", "add", "spam@example.com", "--reason", "complaint")
    assert r.output.startswith("spam@example.com was already suppressed (manual since ")
    r = cli_run("suppressions", "list", "--format", "json")
    [row] = json.loads(r.output)
    assert (row["address"], row["reason"], row["detail"]) == (
        "Spam@example.com",
        "manual",
        "asked by phone",
    )
    r = cli_run("suppressions", "list", "--reason", "bounced")
    assert r.output == "No suppressed addresses.\n"
    r = cli_run("suppressions", "add", "x@example.com", "--reason", "forgotten")
    assert r.exit_code == 2  # only 'forget' may claim that
    r = cli_run("suppressions", "remove", "SPAM@example.com")
    assert (r.exit_code, r.output) == (0, "Removed the suppression of SPAM@example.com (manual).\n")


def test_search_is_literal_not_a_like_pattern(cli_run) -> None:
    cli_run("lists", "create", "news")
    for address in ("a_b@example.org", "axb@example.org", "100%@example.net", "1000@example.net"):
        cli_run("subscribers", "add", address, "--list", "news")
        cli_run("suppressions", "add", address)
    r = cli_run("subscribers", "list", "--search", "a_b", "--format", "csv")
    assert "a_b@example.org" in r.output and "axb@example.org" not in r.output
    r = cli_run("suppressions", "list", "--search", "100%", "--format", "csv")
    assert "100%@example.net" in r.output and "1000@example.net" not in r.output
