"""``newsletter lists``: through the CLI, as an admin would use it."""

from __future__ import annotations

import json

import pytest

from newsletter.db import Database
from newsletter.subscribers import add_subscriber, create_list, list_summaries, unsubscribe
from newsletter.subscribers.errors import UnknownList


def test_create_list_show(cli_run) -> None:
    r = cli_run("lists", "create", "news", "--name", "Monatlicher Newsletter", "--language", "de")
    assert (r.exit_code, r.output) == (0, "Created list news (Monatlicher Newsletter).\n")
    r = cli_run("lists", "show", "news")
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == "news: Monatlicher Newsletter"
    assert "  language: de, double opt-in" in r.output
    assert "  subscribers: 0 confirmed, 0 unconfirmed, 0 unsubscribed" in r.output


def test_invalid_slug_and_duplicates_exit_2(cli_run) -> None:
    r = cli_run("lists", "create", "News Letter")
    assert r.exit_code == 2
    assert r.output == (
        "Error: slug: invalid list slug 'News Letter': use lower-case letters, digits and '-' "
        "(at most 64, starting with a letter or digit)\n"
    )
    cli_run("lists", "create", "news")
    r = cli_run("lists", "create", "news")
    assert (r.exit_code, r.output) == (2, "Error: slug: list 'news' already exists\n")


def test_unknown_list_names_the_existing_ones(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("lists", "create", "events")
    r = cli_run("lists", "show", "newz")
    assert r.exit_code == 2
    assert r.output == "Error: list: unknown list 'newz'; existing lists: events, news\n"


def test_list_counts_per_status(news: Database) -> None:
    with news.session() as s:
        create_list(s, "events", "Events")
        add_subscriber(s, "a@example.org", ["news"], status="confirmed", consent_note="test")
        add_subscriber(s, "b@example.org", ["news", "events"])
        add_subscriber(s, "c@example.org", ["news"])
        unsubscribe(s, "c@example.org", "news")
    with news.session() as s:
        counts = {x.slug: (x.confirmed, x.unconfirmed, x.unsubscribed) for x in list_summaries(s)}
    assert counts == {"news": (1, 1, 1), "events": (0, 1, 0)}


def test_lists_list_formats(cli_run) -> None:
    cli_run("lists", "create", "news", "--name", "News")
    cli_run("subscribers", "add", "a@example.org", "--list", "news")
    r = cli_run("lists", "list", "--format", "csv")
    assert r.output == (
        "slug,name,language,double_opt_in,confirmed,unconfirmed,unsubscribed,total\n"
        "news,News,,yes,0,1,0,1\n"
    )
    r = cli_run("lists", "list", "--format", "json")
    assert json.loads(r.output) == [
        {
            "slug": "news",
            "name": "News",
            "language": None,
            "double_opt_in": True,
            "confirmed": 0,
            "unconfirmed": 1,
            "unsubscribed": 0,
            "total": 1,
        }
    ]
    r = cli_run("lists", "list")
    assert r.exit_code == 0
    assert "Mailing lists" in r.output and "news" in r.output


def test_rename_keeps_subscriptions(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "a@example.org", "--list", "news")
    r = cli_run("lists", "rename", "news", "--slug", "monthly", "--name", "Monthly")
    assert (r.exit_code, r.output) == (0, "List news is now monthly (Monthly).\n")
    r = cli_run("subscribers", "list", "--list", "monthly", "--format", "csv")
    assert "a@example.org" in r.output
    r = cli_run("lists", "rename", "monthly")
    assert r.exit_code == 2
    assert r.output == "Error: nothing to change: give a new slug, --name or --description\n"


def test_delete_asks_and_keeps_suppressions(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "a@example.org", "--list", "news")
    cli_run("suppressions", "add", "a@example.org")
    r = cli_run("lists", "delete", "news", input="n\n")
    assert r.exit_code == 1 and "Delete news and its 1 subscription(s)?" in r.output
    r = cli_run("lists", "delete", "news", "--yes")
    assert (r.exit_code, r.output) == (0, "Deleted list news (1 subscription(s) removed).\n")
    r = cli_run("suppressions", "list", "--format", "csv")
    assert "a@example.org,manual" in r.output
    r = cli_run("lists", "delete", "news", "--yes")
    assert r.exit_code == 2


def test_get_list_error_type(news: Database) -> None:
    from newsletter.subscribers import get_list

    with news.session() as s, pytest.raises(UnknownList) as caught:
        get_list(s, "nope")
    assert str(caught.value) == "list: unknown list 'nope'; existing lists: news"


def test_delete_never_silently_loses_an_unsubscription(cli_run, tmp_path) -> None:
    cli_run("lists", "create", "news")
    (tmp_path / "people.csv").write_text("email\na@example.org\nb@example.org\n")
    cli_run("subscribers", "import", "people.csv", "--list", "news")
    cli_run("subscribers", "unsubscribe", "a@example.org", "--list", "news")
    r = cli_run("lists", "delete", "news", "--yes")
    assert r.exit_code == 2
    assert r.output == (
        "Error: list: 1 people unsubscribed from news; deleting the list would forget that, and "
        "a later import into a list of the same name could subscribe them again. Use "
        "--suppress-unsubscribed to block them from every list, or --forget-unsubscribed to "
        "delete anyway\n"
    )
    r = cli_run("lists", "delete", "news", "--yes", "--suppress-unsubscribed")
    assert (r.exit_code, r.output) == (0, "Deleted list news (2 subscription(s) removed).\n")
    # the same file into a new list of the same name: a@ stays out, b@ comes back
    cli_run("lists", "create", "news")
    r = cli_run("subscribers", "import", "people.csv", "--list", "news")
    assert r.output.splitlines()[1:] == [
        "Imported: 1 new, 0 updated, 0 unchanged, 0 rejected, 1 skipped.",
        "Skipped because an import never resubscribes them: 1 suppressed (unsubscribed).",
    ]
    r = cli_run("subscribers", "list", "--list", "news", "--format", "csv")
    assert "b@example.org" in r.output and "a@example.org" not in r.output


def test_delete_can_forget_unsubscriptions_when_told(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "a@example.org", "--list", "news")
    cli_run("subscribers", "unsubscribe", "a@example.org", "--list", "news")
    r = cli_run("lists", "delete", "news", "--yes", "--forget-unsubscribed")
    assert r.exit_code == 0
    r = cli_run("suppressions", "list", "--format", "csv")
    assert "a@example.org" not in r.output
