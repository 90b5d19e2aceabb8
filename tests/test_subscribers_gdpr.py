"""GDPR: ``subscribers data`` shows everything, ``forget`` leaves no trace but a hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers import add_subscriber, edit_subscriber, gdpr, is_suppressed
from newsletter.subscribers.importing import import_file


def database_bytes(db_file: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as stored on disk."""
    return b"".join(
        p.read_bytes()
        for p in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"))
        if p.exists()
    )


def test_data_prints_everything_as_json(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run(
        "subscribers",
        "add",
        "anna@example.org",
        "--list",
        "news",
        "--name",
        "Anna Müller",
        "--attr",
        "city=Köln",
        "--status",
        "confirmed",
        "--consent-note",
        "Stadtfest",
    )
    cli_run("subscribers", "unsubscribe", "anna@example.org", "--list", "news", "--note", "phone")
    r = cli_run("subscribers", "data", "ANNA@example.org")
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["subscriber"]["name"] == "Anna Müller"
    assert data["subscriber"]["attributes"] == {"city": "Köln"}
    assert data["subscriptions"][0]["status"] == "unsubscribed"
    assert [(e["action"], e["detail"]) for e in data["consent_log"]] == [
        ("confirm", "consent: Stadtfest"),
        ("unsubscribe", "phone"),
    ]
    assert data["suppressions"] == []


@pytest.mark.sqlite_only(
    "reads the SQLite file's bytes; PostgreSQL keeps dead rows until VACUUM "
    "(docs/deployment.md, erasure)"
)
def test_forget_leaves_no_plaintext_anywhere_in_the_files(
    cli_run, tmp_path: Path, database_url: str
) -> None:
    cli_run("lists", "create", "news")
    db = Database(database_url)
    with db.session() as s:
        import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="restore")
        add_subscriber(
            s,
            "Zoe.Zimmer@example.org",
            ["news"],
            name="Zoë Zimmermann",
            attributes={"phone": "+49 30 1234567"},
        )
    with db.session() as s:
        edit_subscriber(s, "zoe.zimmer@example.org", email="zoe.z@example.net")
    db.dispose()
    cli_run("suppressions", "add", "zoe.z@example.net", "--detail", "asked by phone")
    before = database_bytes(tmp_path / "newsletter.sqlite")
    secrets = [b"zoe.z", b"Zoe.Zimmer", b"Zimmermann", "Zoë".encode(), b"1234567"]
    assert all(s.lower() in before.lower() for s in secrets)

    r = cli_run("subscribers", "forget", "zoe.z@example.net", "--yes")
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == (
        "Forgot zoe.z@example.net: deleted the subscriber, 1 subscription(s), 3 consent log "
        "entries anonymised; a hashed suppression keeps the address from being imported again."
    )
    after = database_bytes(tmp_path / "newsletter.sqlite")
    for secret in secrets:
        assert secret.lower() not in after.lower(), secret
    assert b"anna.mueller@example.org" in after  # everyone else is still there
    r = cli_run("suppressions", "list", "--format", "csv")
    assert "(forgotten),forgotten" in r.output


def test_a_forgotten_address_cannot_be_imported_again(news: Database, tmp_path: Path) -> None:
    with news.session() as s:
        import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
    with news.session() as s:
        report = gdpr.forget(s, "Anna.Mueller@example.org")
    assert report.subscriber_deleted and report.subscriptions_deleted == 1
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
        assert r.skipped == {"suppressed (forgotten)": 1}
        assert is_suppressed(s, "anna.mueller@example.org")
        assert gdpr.personal_data(s, "anna.mueller@example.org")["subscriber"] is None


def test_forget_someone_we_never_had(cli_run) -> None:
    r = cli_run("subscribers", "forget", "stranger@example.com", "--yes")
    assert r.exit_code == 0
    assert r.output.startswith("Forgot stranger@example.com: no subscriber found, 0 subscription")
    r = cli_run("subscribers", "add", "stranger@example.com")
    assert r.exit_code == 2
    assert "stranger@example.com is suppressed (forgotten on " in r.output


def test_forget_asks_first(cli_run) -> None:
    cli_run("subscribers", "add", "anna@example.org")
    r = cli_run("subscribers", "forget", "anna@example.org", input="n\n")
    assert r.exit_code == 1
    assert "Erase all data about anna@example.org? This cannot be undone." in r.output
    assert "anna@example.org" in cli_run("subscribers", "list", "--format", "csv").output


def test_tables_added_later_take_part_through_the_registry(news: Database) -> None:
    seen: list[str] = []

    def collect(session, person):
        return [{"campaign": 7, "address_key": person.key}]

    def scrub(session, person):
        seen.append(person.key)
        return 3

    gdpr.register("test-log", collect=collect, scrub=scrub)
    try:
        with news.session() as s:
            add_subscriber(s, "anna@example.org", ["news"])
        with news.session() as s:
            assert gdpr.personal_data(s, "anna@example.org")["test-log"] == [
                {"campaign": 7, "address_key": "anna@example.org"}
            ]
            assert gdpr.forget(s, "anna@example.org").other["test-log"] == 3
        assert seen == ["anna@example.org"]
    finally:
        gdpr._collectors.pop("test-log")
        gdpr._scrubbers.pop("test-log")


def test_data_lists_every_suppression_of_every_address_the_person_had(cli_run) -> None:
    import json

    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "old@example.org", "--list", "news")
    cli_run("suppressions", "add", "old@example.org", "--detail", "asked by phone")
    r = cli_run("subscribers", "edit", "old@example.org", "--email", "new@example.org")
    assert r.exit_code == 0, r.output
    data = json.loads(cli_run("subscribers", "data", "new@example.org").output)
    assert [(s["address"], s["detail"]) for s in data["suppressions"]] == [
        ("old@example.org", "asked by phone"),
        ("new@example.org", "carried over from the previous address (manual)"),
    ]


def test_a_new_address_keeps_a_complaint_but_not_a_bounce(cli_run) -> None:
    cli_run("lists", "create", "news")
    for person, reason in (("angry", "complaint"), ("full", "bounced")):
        cli_run("subscribers", "add", f"{person}@example.org", "--list", "news")
        r = cli_run("suppressions", "add", f"{person}@example.org", "--reason", reason)
        assert r.exit_code == 0, r.output
        new = f"{person}@example.net"
        r = cli_run("subscribers", "edit", f"{person}@example.org", "--email", new)
        assert r.exit_code == 0, r.output
    listed = cli_run("suppressions", "list", "--format", "csv").output
    assert "angry@example.net,complaint" in listed  # the person's will follows them
    assert "full@example.net" not in listed  # a bounce was the old mailbox's problem
