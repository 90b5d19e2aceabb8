"""A subscriber's time zone: from every import format, `subscribers edit`, and a list's default.

The zone is what `campaigns schedule --local` sends at (tests/test_local_time.py); here,
only where it comes from and that a wrong one is refused with the file, line and field.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers.importers.mailchimp import zone_of_country
from newsletter.subscribers.importing import import_file
from newsletter.subscribers.tables import Subscriber


def zones(db: Database) -> dict[str, str | None]:
    with db.session() as s:
        return dict(s.execute(sa.select(Subscriber.email, Subscriber.timezone)).all())


def test_own_format_reads_a_timezone_column(news: Database, tmp_path: Path) -> None:
    f = tmp_path / "people.csv"
    f.write_text(
        "email,name,language,timezone\n"
        "anna@example.org,Anna,de,Europe/Berlin\n"
        "li@example.org,Li,zh-Hans,Asia/Shanghai\n"
        "bob@example.org,Bob,en,\n",
        encoding="utf-8",
    )
    with news.session() as s:
        r = import_file(s, f, list_slug="news", consent_note="sign-up sheet")
    assert (r.new, r.rejected) == (3, [])
    assert zones(news) == {
        "anna@example.org": "Europe/Berlin",
        "li@example.org": "Asia/Shanghai",
        "bob@example.org": None,
    }
    # a later file without a zone keeps the one we have (empty cells never erase)
    f.write_text("email,timezone\nanna@example.org,\nbob@example.org,America/New_York\n")
    with news.session() as s:
        import_file(s, f, list_slug="news", consent_note="sign-up sheet")
    assert zones(news)["anna@example.org"] == "Europe/Berlin"
    assert zones(news)["bob@example.org"] == "America/New_York"


def test_a_row_with_an_unknown_zone_is_rejected_with_its_line(
    news: Database, tmp_path: Path
) -> None:
    f = tmp_path / "people.csv"
    f.write_text("email,timezone\nanna@example.org,Europe/Berlin\nli@example.org,Mars/Olympus\n")
    with news.session() as s:
        r = import_file(s, f, list_slug="news", consent_note="x")
    assert [str(p) for p in r.rejected] == [
        f"{f}:3: timezone: unknown time zone 'Mars/Olympus': use an IANA name such as "
        "Europe/Berlin or Asia/Shanghai"
    ]
    assert zones(news) == {}  # a file with rejected rows imports nothing


def test_mailchimp_timezone_else_the_one_zone_of_the_country(
    news: Database, tmp_path: Path
) -> None:
    shutil.copy(FIXTURES / "mailchimp_subscribed.csv", tmp_path / "mc.csv")
    with news.session() as s:
        import_file(s, tmp_path / "mc.csv", list_slug="news")
    assert zones(news) == {
        "anna.mueller@example.org": "Europe/Berlin",  # TIMEZONE
        "emily.clarke@example.com": "Europe/London",  # no TIMEZONE; CC GB
        "info@example.net": None,  # neither
    }
    assert zone_of_country("DE") == "Europe/Berlin"  # Büsingen keeps Berlin's time
    assert zone_of_country("CN") == "Asia/Shanghai"
    assert zone_of_country("US") is None  # six zones: no guess
    assert zone_of_country("") is None


def test_listmonk_timezone_attribute(news: Database, tmp_path: Path) -> None:
    f = tmp_path / "listmonk.csv"
    f.write_text(
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        '6f1c7e9a-0d3b-4c8e-9a51-1b2c3d4e5f60,li.na@example.org,李娜,"{""city"": ""上海"", '
        '""timezone"": ""Asia/Shanghai""}",enabled,2021-09-01 10:11:12+00,2021-09-01 10:11:12+00\n',
        encoding="utf-8",
    )
    with news.session() as s:
        import_file(s, f, list_slug="news", consent_note="listmonk")
    with news.session() as s:
        sub = s.execute(sa.select(Subscriber)).scalar_one()
    assert (sub.timezone, sub.attributes) == ("Asia/Shanghai", {"city": "上海"})


def test_subscribers_edit_timezone_and_a_lists_default(cli_run) -> None:
    cli_run("lists", "create", "news")
    cli_run("subscribers", "add", "li@example.org", "--list", "news")
    r = cli_run("subscribers", "edit", "li@example.org", "--timezone", "Asia/Shanghai")
    assert (r.exit_code, r.output) == (0, "Updated li@example.org: timezone.\n")
    assert "  time zone: Asia/Shanghai\n" in cli_run("subscribers", "show", "li@example.org").output
    bad = cli_run("subscribers", "edit", "li@example.org", "--timezone", "Beijing")
    assert (bad.exit_code, bad.output) == (
        2,
        "Error: timezone: unknown time zone 'Beijing': use an IANA name such as Europe/Berlin "
        "or Asia/Shanghai\n",
    )
    cleared = cli_run("subscribers", "edit", "li@example.org", "--timezone", "")
    assert cleared.output == "Updated li@example.org: timezone.\n"
    r = cli_run("lists", "timezone", "news", "Europe/Berlin")
    assert (r.exit_code, r.output) == (
        0,
        "List news: subscribers without a time zone get Europe/Berlin.\n",
    )
    assert "  time zone: Europe/Berlin\n" in cli_run("lists", "show", "news").output
    r = cli_run("lists", "timezone", "news", "", "--from-language")
    assert r.output == (
        "List news: subscribers without a time zone get the zone their language implies "
        "(zh: Asia/Shanghai), else the campaign's.\n"
    )
    bad = cli_run("lists", "timezone", "news", "Berlin")
    assert (bad.exit_code, bad.output) == (
        2,
        "Error: timezone: unknown time zone 'Berlin': use an IANA name such as Europe/Berlin "
        "or Asia/Shanghai\n",
    )
