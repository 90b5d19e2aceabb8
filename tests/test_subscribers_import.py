"""``newsletter subscribers import``: every format, all-or-nothing, and never resubscribing."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers import add_subscriber, is_suppressed, suppress, unsubscribe
from newsletter.subscribers.errors import ImportError_, SubscriberError
from newsletter.subscribers.importing import import_file
from newsletter.subscribers.tables import ConsentEvent, Subscriber, Subscription, Suppression


def people(db: Database) -> dict[str, tuple]:
    """email → (name, language, attributes, status on news) as stored."""
    with db.session() as s:
        rows = s.execute(
            sa.select(Subscriber, Subscription.status).outerjoin(
                Subscription, Subscription.subscriber_id == Subscriber.id
            )
        ).all()
        return {sub.email: (sub.name, sub.language, sub.attributes, st) for sub, st in rows}


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def fixture(tmp_path: Path, name: str) -> str:
    """Copy a fixture next to the database, so messages show a short relative name."""
    shutil.copy(FIXTURES / name, tmp_path / name)
    return name


# -- formats ------------------------------------------------------------------


def test_own_format_keeps_status_times_attributes_and_suppression(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="migration")
    assert (r.format, r.new, r.suppressions_added, r.rejected) == ("newsletter export", 4, 1, [])
    got = people(news)
    assert got["anna.mueller@example.org"] == ("Anna Müller", "de", {"city": "Köln"}, "confirmed")
    assert got["wang.wei@example.net"] == ("王伟", "zh", {}, "unconfirmed")
    assert got["john.smith@example.com"][3] == "unsubscribed"
    with news.session() as s:
        anna = s.execute(
            sa.select(Subscription)
            .join(Subscriber)
            .where(Subscriber.email == "anna.mueller@example.org")
        ).scalar_one()
        assert anna.confirmed_at == datetime(2021, 3, 1, 9, 5, tzinfo=UTC)
        assert anna.source == f"import:{FIXTURES / 'own.csv'}:2"
        assert is_suppressed(s, "bounced@example.com")


def test_mailchimp_exports(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
    assert (r.format, r.new, r.role_addresses) == ("Mailchimp audience export", 3, 1)
    assert r.extra_columns == ["address", "phone number", "tags"]
    got = people(news)
    assert got["anna.mueller@example.org"] == (
        "Anna Müller",
        None,
        {
            "address": "Domstraße 1  Köln  50667 DE",
            "phone number": "+49 221 123456",
            "tags": ["Kunden"],
        },
        "confirmed",
    )
    # Mailchimp quotes each tag: a comma inside one does not split it
    assert got["emily.clarke@example.com"][2] == {"tags": ["Presse", "Mailing, lokal"]}
    assert "info@example.net" in got  # role local part lower-cased by email-validator
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_unsubscribed.csv", list_slug="news")
        assert r.new == 1
        r = import_file(s, FIXTURES / "mailchimp_cleaned.csv", list_slug="news")
        assert (r.new, r.suppressions_added) == (0, 1)
        assert is_suppressed(s, "dead@example.com")
    assert people(news)["gone@example.org"] == ("Gustav Gone", None, {}, "unsubscribed")
    assert "dead@example.com" not in people(news)  # a bounce keeps no personal data


def test_listmonk_export(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "listmonk.csv", list_slug="news")
        assert (r.format, r.new, r.suppressions_added) == ("listmonk export", 2, 1)
        assert is_suppressed(s, "spam-trap@example.com")
    li = people(news)["li.na@example.org"]
    assert li == (
        "李娜",
        None,
        {"city": "上海", "interests": ["housing", "mobility"]},
        "unconfirmed",
    )


def test_semicolons_bom_and_quoted_newlines(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "excel_semicolon_bom.csv", list_slug="news")
    assert (r.encoding, r.delimiter, r.new, r.rejected) == ("utf-8-sig", ";", 2, [])
    got = people(news)
    assert got["anna.mueller@example.org"][2] == {"adresse": "Domstraße 1\r\n50667 Köln"}
    assert got["juergen.gross@example.org"][0] == "Groß; Jürgen"


def test_windows_1252_fallback(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "excel_cp1252.csv", list_slug="news")
    assert (r.encoding, r.new) == ("cp1252", 2)
    assert people(news)["soeren.jaeger@example.org"][0] == "Sören Jäger – Büro"


def test_the_reader_process_gives_the_same_result(news: Database) -> None:
    with news.session() as s:
        inline = import_file(s, FIXTURES / "invalid_rows.csv", list_slug="news", dry_run=True)
        child = import_file(
            s, FIXTURES / "invalid_rows.csv", list_slug="news", dry_run=True, parallel=True
        )
    assert child == inline


# -- all or nothing -----------------------------------------------------------


def test_every_invalid_row_is_reported_and_nothing_is_imported(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    name = fixture(tmp_path, "invalid_rows.csv")
    r = cli_run("subscribers", "import", name, "--list", "news")
    assert r.exit_code == 2
    assert r.stderr == (
        "invalid_rows.csv:3: invalid address 'not-an-address': An email address must have an "
        "@-sign.\n"
        "invalid_rows.csv:6: invalid address 'bob@example..com': An email address cannot have "
        "two periods in a row.\n"
        "invalid_rows.csv:7: warning: ANNA.MUELLER@example.org: same address as line 2; merged "
        "into it (this row's other fields are not used)\n"
        "invalid_rows.csv:8: language: invalid language 'english': use a code like de, en or "
        "zh-Hans\n"
        "invalid_rows.csv:9: attributes: not valid JSON (Expecting property name enclosed in "
        "double quotes)\n"
        "invalid_rows.csv:10: has 2 fields, the header has 4 (a quote may be missing)\n"
    )
    assert r.stdout == (
        "invalid_rows.csv: newsletter export (UTF-8, comma-separated), 8 rows\n"
        "Would import: 2 new, 0 updated, 0 unchanged, 5 rejected, 0 skipped.\n"
        "Merged: 1 row repeating an earlier row's address (listed above).\n"
        "Nothing imported: 5 invalid rows (listed above). Fix them, or use --skip-invalid to "
        "import the valid rows.\n"
    )
    r = cli_run("subscribers", "list", "--format", "csv")
    assert r.output == "id,email,name,language,lists,suppressed,created_at\n"


def test_skip_invalid_imports_the_rest(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    name = fixture(tmp_path, "invalid_rows.csv")
    r = cli_run("subscribers", "import", name, "--list", "news", "--skip-invalid")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1:] == [
        "Imported: 2 new, 0 updated, 0 unchanged, 5 rejected, 0 skipped.",
        "Merged: 1 row repeating an earlier row's address (listed above).",
    ]
    r = cli_run("subscribers", "list", "--format", "json")
    listed = [(row["email"], row["name"]) for row in json.loads(r.output)]
    assert listed == [
        ("anna.mueller@example.org", "Anna Müller"),
        ("wang.wei@example.net", "王伟\n(second line of a quoted name)"),
    ]


def test_dry_run_changes_nothing(cli_run, tmp_path: Path, database_url: str) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "anna.mueller@example.org", "--list", "news")
    before = cli_run("subscribers", "export").output
    name = fixture(tmp_path, "mailchimp_subscribed.csv")
    r = cli_run("subscribers", "import", name, "--list", "news", "--dry-run")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1:] == [
        "Extra columns stored as attributes: address, phone number, tags",
        "Would import: 2 new, 1 updated, 0 unchanged, 0 rejected, 0 skipped.",
        "Warning: 1 role address (postmaster@, info@ …); these reach a team or a machine, "
        "not a person who opted in.",
        "Dry run: nothing was changed.",
    ]
    assert cli_run("subscribers", "export").output == before
    engine = sa.create_engine(database_url)
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM consent_event").scalar() == 1
    engine.dispose()


# -- never resubscribe --------------------------------------------------------


def test_unsubscribed_and_suppressed_addresses_are_never_resubscribed(
    cli_run, tmp_path: Path
) -> None:
    cli_run("lists", "create", "news")
    for email in ("anna.mueller@example.org", "wang.wei@example.net"):
        cli_run("subscribers", "add", email, "--list", "news")
    cli_run("subscribers", "unsubscribe", "anna.mueller@example.org", "--list", "news")
    cli_run("suppressions", "add", "wang.wei@example.net", "--reason", "bounced")
    name = fixture(tmp_path, "invalid_rows.csv")
    r = cli_run(
        "subscribers",
        "import",
        name,
        "--list",
        "news",
        "--skip-invalid",
        "--status",
        "confirmed",
        "--consent-note",
        "paper form",
    )
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1:] == [
        "Imported: 0 new, 0 updated, 0 unchanged, 5 rejected, 2 skipped.",
        "Merged: 1 row repeating an earlier row's address (listed above).",
        "Skipped because an import never resubscribes them: 1 suppressed (bounced), "
        "1 unsubscribed from the list.",
    ]
    r = cli_run("subscribers", "list", "--format", "csv")
    assert "anna.mueller@example.org,,,news:unsubscribed" in r.output
    assert "wang.wei@example.net,,,news:unconfirmed,bounced" in r.output


def test_a_file_cannot_undo_a_suppression_in_another_case(news: Database, tmp_path: Path) -> None:
    with news.session() as s:
        suppress(s, "ANNA.Mueller@Example.org", "complaint")
    with news.session() as s:
        r = import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="x")
    assert r.skipped == {"suppressed (complaint)": 1}
    assert "anna.mueller@example.org" not in people(news)


def test_confirmed_needs_a_consent_note_which_is_logged(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    name = fixture(tmp_path, "excel_cp1252.csv")
    r = cli_run("subscribers", "import", name, "--list", "news", "--status", "confirmed")
    assert r.exit_code == 2
    assert r.output == (
        'Error: consent-note: marking subscribers as confirmed needs --consent-note "…" saying '
        "where their consent comes from (it is kept in the consent log)\n"
    )
    r = cli_run(
        "subscribers",
        "import",
        name,
        "--list",
        "news",
        "--status",
        "confirmed",
        "--consent-note",
        "Anmeldeformular Stadtfest 2023",
    )
    assert r.exit_code == 0
    r = cli_run("subscribers", "data", "kaethe.kroeger@example.com")
    assert '"detail": "consent: Anmeldeformular Stadtfest 2023"' in r.output
    assert f'"source": "import:{name}:2"' in r.output


def test_a_confirmed_status_in_the_file_needs_the_note_too(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "own.csv", list_slug="news")
    needs_note = 'status confirmed needs --consent-note "…" (where consent comes from)'
    assert [(p.line, p.message) for p in r.rejected] == [(2, needs_note), (5, needs_note)]
    assert not r.applied and count(news, Subscriber) == 0


def test_reimport_updates_without_downgrading(news: Database) -> None:
    with news.session() as s:
        add_subscriber(
            s,
            "anna.mueller@example.org",
            ["news"],
            name="A. M.",
            status="confirmed",
            consent_note="form",
        )
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
    assert (r.new, r.updated, r.unchanged) == (2, 1, 0)
    anna = people(news)["anna.mueller@example.org"]
    assert anna[0] == "Anna Müller" and anna[3] == "confirmed"  # name updated, not downgraded
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
    assert (r.new, r.updated, r.unchanged) == (0, 0, 3)


# -- bad files ----------------------------------------------------------------


def test_broken_utf8_names_the_line(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    name = fixture(tmp_path, "broken_utf8.csv")
    r = cli_run("subscribers", "import", name, "--list", "news")
    assert r.exit_code == 2
    assert r.output == (
        "Error: broken_utf8.csv:3: invalid UTF-8 (byte 0xf6) in a file that is otherwise UTF-8; "
        "fix the line or save the file again as UTF-8\n"
    )


def test_unreadable_binary_and_headerless_files(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    r = cli_run("subscribers", "import", "missing.csv", "--list", "news")
    assert (r.exit_code, r.output) == (
        2,
        "Error: missing.csv: cannot read: No such file or directory\n",
    )
    (tmp_path / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    r = cli_run("subscribers", "import", "photo.csv", "--list", "news")
    assert (
        r.output == "Error: photo.csv:3: not a text file (contains NUL bytes); export it as CSV\n"
    )
    (tmp_path / "names.csv").write_text("vorname,nachname\nAnna,Müller\n", encoding="utf-8")
    r = cli_run("subscribers", "import", "names.csv", "--list", "news")
    assert r.output == (
        "Error: names.csv:1: no email column; expected our export (email,name,…), a Mailchimp "
        'export ("Email Address",…) or a listmonk export (email,name,attributes)\n'
    )
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    r = cli_run("subscribers", "import", "empty.csv", "--list", "news")
    assert (
        r.output == "Error: empty.csv:1: empty file: expected a header row with an email column\n"
    )
    assert r.exit_code == 2


def test_unknown_list_and_missing_list(cli_run, tmp_path: Path) -> None:
    name = fixture(tmp_path, "excel_cp1252.csv")
    r = cli_run("subscribers", "import", name, "--list", "news")
    assert (r.exit_code, r.output) == (
        2,
        "Error: list: unknown list 'news'; create it with: newsletter lists create news\n",
    )
    cli_run("lists", "create", "news")
    r = cli_run("subscribers", "import", name)
    assert r.output == "Error: list: which list? give --list SLUG (the file has no list column)\n"


def test_the_list_column_routes_rows_and_unknown_lists_are_row_errors(
    news: Database, tmp_path: Path
) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "own.csv", consent_note="restore")
    assert r.applied and r.new == 4
    path = FIXTURES.parent.parent / "fixtures" / "subscribers" / "own.csv"
    text = path.read_text(encoding="utf-8").replace(",news,", ",events,", 1)
    other = tmp_path / "events.csv"
    other.write_text(text, encoding="utf-8")
    with news.session() as s:
        r = import_file(s, other, consent_note="restore")
    assert [(p.line, p.message) for p in r.rejected] == [(2, "list: unknown list 'events'")]


def test_import_writes_one_consent_event_per_change(news: Database) -> None:
    with news.session() as s:
        import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="restore")
    with news.session() as s:
        events = s.execute(sa.select(ConsentEvent.action, ConsentEvent.subject)).all()
        assert sorted(events) == sorted(
            [
                ("confirm", "anna.mueller@example.org"),
                ("subscribe", "wang.wei@example.net"),
                ("unsubscribe", "john.smith@example.com"),
                ("suppress", "bounced@example.com"),
                ("confirm", "bounced@example.com"),
            ]
        )
        assert s.execute(sa.select(sa.func.count()).select_from(Suppression)).scalar_one() == 1


def test_library_errors_carry_the_file(tmp_path: Path, news: Database) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"email\n\x81\x8d\n")
    with news.session() as s, pytest.raises(ImportError_) as caught:
        import_file(s, bad, list_slug="news")
    assert caught.value.problems[0].file == str(bad)
    assert caught.value.problems[0].line == 2


def test_utf16_with_bom(news: Database, tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_text("email\tname\nli.na@example.org\t李娜\n", encoding="utf-16")
    with news.session() as s:
        r = import_file(s, path, list_slug="news")
    assert (r.encoding, r.delimiter, r.new) == ("utf-16", "\t", 1)
    assert people(news)["li.na@example.org"][0] == "李娜"


def test_a_blank_consent_note_is_no_consent_note(news: Database) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="   ")
    needs_note = 'status confirmed needs --consent-note "…" (where consent comes from)'
    assert [(p.line, p.message) for p in r.rejected] == [(2, needs_note), (5, needs_note)]
    assert not r.applied and count(news, Subscriber) == 0
    with news.session() as s:
        add_subscriber(s, "anna@example.org", ["news"])
        unsubscribe(s, "anna@example.org", "news")
    with (
        pytest.raises(SubscriberError, match="--resubscribe needs --consent-note"),
        news.session() as s,
    ):
        add_subscriber(s, "anna@example.org", ["news"], resubscribe=True, consent_note=" ")


def test_fields_longer_than_their_columns_are_row_errors(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    (tmp_path / "long.csv").write_text(
        "email,name,language\n"
        f"anna@example.org,{'A' * 400},de\n"
        f"bert@example.org,{'B' * 5000},en\n"
        f"cem@example.org,Cem,de-{'-'.join(['Abcdefgh'] * 4)}\n",
        encoding="utf-8",
    )
    r = cli_run("subscribers", "import", "long.csv", "--list", "news")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "long.csv:3: name: too long (5,000 characters, at most 400)",
        "long.csv:4: language: invalid language "
        "'de-Abcdefgh-Abcdefgh-Abcdefgh-Abcdefgh': use a code like de, en or zh-Hans",
    ]
    r = cli_run("subscribers", "add", "bert@example.org", "--name", "B" * 401)
    assert (r.exit_code, r.output) == (2, "Error: name: too long (401 characters, at most 400)\n")
    cli_run("subscribers", "add", "bert@example.org", "--name", "Bert")
    r = cli_run("subscribers", "edit", "bert@example.org", "--name", "B" * 401)
    assert (r.exit_code, r.output) == (2, "Error: name: too long (401 characters, at most 400)\n")


def test_a_mailchimp_subscribed_export_is_confirmed_consent_with_its_times(
    news: Database,
) -> None:
    with news.session() as s:
        r = import_file(s, FIXTURES / "mailchimp_subscribed.csv", list_slug="news")
    assert r.new == 3 and not r.rejected
    with news.session() as s:
        sub = s.execute(
            sa.select(Subscription)
            .join(Subscriber)
            .where(Subscriber.email == "anna.mueller@example.org")
        ).scalar_one()
        events = s.execute(
            sa.select(ConsentEvent.at, ConsentEvent.action, ConsentEvent.detail).where(
                ConsentEvent.subject == "anna.mueller@example.org"
            )
        ).all()
    assert (sub.status, sub.created_at, sub.confirmed_at) == (
        "confirmed",
        datetime(2021, 3, 1, 9, 0, tzinfo=UTC),
        datetime(2021, 3, 1, 9, 5, tzinfo=UTC),
    )
    assert [(e.at, e.action, e.detail) for e in events] == [
        (
            datetime(2021, 3, 1, 9, 5, tzinfo=UTC),
            "confirm",
            "Mailchimp: opted in 2021-03-01 09:00:00 UTC, confirmed 2021-03-01 09:05:00 UTC",
        )
    ]


def test_rows_differing_only_in_case_are_merged_and_reported(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    (tmp_path / "people.csv").write_text(
        "email,name\nAnna.Mueller@example.org,Anna\nbob@example.org,Bob\n"
        "anna.mueller@example.org,Anna M.\n",
        encoding="utf-8",
    )
    r = cli_run("subscribers", "import", "people.csv", "--list", "news")
    assert r.exit_code == 0
    assert r.stderr == (
        "people.csv:4: warning: anna.mueller@example.org: same address as line 2; merged into "
        "it (this row's other fields are not used)\n"
    )
    assert r.stdout.splitlines()[1:] == [
        "Imported: 2 new, 0 updated, 0 unchanged, 0 rejected, 0 skipped.",
        "Merged: 1 row repeating an earlier row's address (listed above).",
    ]
    listed = cli_run("subscribers", "list", "--format", "csv").output
    assert "Anna.Mueller@example.org,Anna," in listed and "Anna M." not in listed
