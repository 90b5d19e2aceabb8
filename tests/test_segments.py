"""Segments: every field and operator selects the same people on SQLite and PostgreSQL (the
module runs on both), bad expressions name their column, and values can never become SQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import ROOT
from sqlmodel import select

from newsletter.cli import cli
from newsletter.db import Database
from newsletter.errors import BadInput
from newsletter.inbound.tables import Bounce
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.people import add_subscriber, recipients
from newsletter.subscribers.segments import compile_where
from newsletter.subscribers.suppressions import suppress
from newsletter.subscribers.tables import Subscriber, Subscription

ISSUE = ROOT / "issues" / "2021-07.yaml"
NOW = datetime.now(UTC)

# name, language, attributes, subscribed on isa (UTC midnight), also on press, bounces
PEOPLE = [
    ("anna", "de", {"tags": ["member"], "city": "Köln"}, "2020-05-01", True, []),
    ("bo", "zh", {"tags": ["member", "vip"]}, "2020-12-31", False, []),
    ("chen", "zh-Hans", {"city": "Bonn"}, "2021-03-01", False, [1, 2]),
    ("dora", None, {}, "2022-01-01", False, ["undone", 100]),
    ("gus", "en", {"tags": "member"}, "2023-06-01", False, []),  # tags not a list: no tag
]
EVERYONE = {p[0] for p in PEOPLE}


@pytest.fixture
def isa(db: Database) -> Database:
    with db.session() as s:
        create_list(s, "isa", "ISA")
        create_list(s, "press", "Press")
        for name, language, attributes, day, press, bounces in PEOPLE:
            sub = add_subscriber(
                s, f"{name}@example.org", ["isa", *(["press"] if press else [])], name=name,
                language=language, attributes=attributes, status="confirmed",
                consent_note="test",
            )  # fmt: skip
            when = datetime.fromisoformat(day).replace(tzinfo=UTC)
            for row in s.exec(select(Subscription).where(Subscription.subscriber_id == sub.id)):
                row.created_at = row.confirmed_at = when
                s.add(row)
            for b in bounces:
                s.add(
                    Bounce(
                        source="test", kind="soft", address=sub.email, key_hash=sub.key_hash,
                        subscriber_id=sub.id, scored=True, decision="scored",
                        received_at=NOW - timedelta(days=1 if b == "undone" else b),
                        undone_at=NOW if b == "undone" else None,
                        content_hash=f"{name}-{b}",
                    )
                )  # fmt: skip
        # Never in a segment: not confirmed, or suppressed.
        add_subscriber(s, "eve@example.org", ["isa"], language="zh",
                       attributes={"tags": ["member"]})  # fmt: skip
        add_subscriber(s, "fay@example.org", ["isa"], language="zh", status="confirmed",
                       attributes={"tags": ["member"]}, consent_note="test")  # fmt: skip
        suppress(s, "fay@example.org", "bounced", source="test")
    return db


def selected(db: Database, where: str) -> set[str]:
    with db.session() as s:
        condition = compile_where(s.connection(), where)
        return {sub.name for sub in recipients(s, "isa", condition)}  # type: ignore[misc]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("language = 'zh'", {"bo", "chen"}),
        ("language != 'zh'", {"anna", "dora", "gus"}),
        ("language in ('de', 'en')", {"anna", "gus"}),
        ("LANGUAGE = 'zh-Hans'", {"chen"}),
        ("tag = 'member'", {"anna", "bo"}),
        ("tag != 'member'", {"chen", "dora", "gus"}),
        ("tag in ('vip', 'nobody')", {"bo"}),
        ("attr.city = 'Köln'", {"anna"}),
        ("attr.city != 'Köln'", {"bo", "chen", "dora", "gus"}),
        ("attr.city in ('Köln', 'Bonn')", {"anna", "chen"}),
        ("list = 'press'", {"anna"}),
        ("list != 'press'", {"bo", "chen", "dora", "gus"}),
        ("list in ('press', 'isa')", EVERYONE),
        ("subscribed_before = 2021-01-01", {"anna", "bo"}),
        ("subscribed_after = 2021-01-01", {"chen", "dora", "gus"}),
        ("subscribed = 2020-12-31", {"bo"}),
        ("subscribed != 2020-12-31", EVERYONE - {"bo"}),
        ("subscribed < 2020-12-31", {"anna"}),
        ("subscribed <= 2020-12-31", {"anna", "bo"}),
        ("subscribed > 2022-01-01", {"gus"}),
        ("subscribed >= 2022-01-01", {"dora", "gus"}),
        ("confirmed_after = 2022-01-01", {"dora", "gus"}),
        ("confirmed_before = 2020-06-01", {"anna"}),
        ("soft_bounces = 0", EVERYONE - {"chen"}),
        ("soft_bounces != 0", {"chen"}),
        ("soft_bounces > 1", {"chen"}),
        ("soft_bounces >= 2.5", set()),
        ("soft_bounces < 1", EVERYONE - {"chen"}),
        ("soft_bounces <= 2", EVERYONE),
        ("language = 'zh' and tag = 'member' and subscribed_before = 2021-01-01", {"bo"}),
        ("not tag = 'member' or list = 'press'", {"anna", "chen", "dora", "gus"}),
        ("not (tag = 'member' or list = 'press')", {"chen", "dora", "gus"}),
        ("tag = 'member' and (language = 'de' or language = 'zh')", {"anna", "bo"}),
        ("language = 'en' or tag = 'vip' and language = 'de'", {"gus"}),  # and binds tighter
        ("attr.city = 'Bonn' AND NOT soft_bounces = 0", {"chen"}),
    ],
)
def test_each_operator_selects_the_same_people(isa: Database, where: str, expected) -> None:
    assert selected(isa, where) == expected


@pytest.mark.parametrize(
    ("where", "column", "message"),
    [
        ("langauge = 'zh'", 1, "unknown field 'langauge'; fields: language, tag, list"),
        ("language = zh", 12, "language needs a 'quoted' value"),
        ("language = 'zh' and", 20, "expected a field (language, tag, list"),
        ("language = 'zh' tag = 'x'", 17, "expected 'and', 'or' or the end, found 'tag'"),
        ("subscribed_before = 2021-13-01", 21, "2021-13-01 is not a date"),
        ("subscribed_before < 2021-01-01", 19, "subscribed_before takes '=' and a date"),
        ("soft_bounces > 'x'", 16, "soft_bounces needs a number"),
        ("list = 'nope'", 8, "unknown list 'nope'; lists: isa, press"),
        ("language = 'zh", 12, "unterminated 'text'"),
        ("tag < 'x'", 5, "tag takes = != or in, not <"),
        ("soft_bounces in (1)", 14, "'in' works with text fields, not soft_bounces"),
        ("(language = 'zh'", 17, "expected ')', found the end"),
        ("language = 'klingon!'", 12, "'klingon!' is not a language code"),
        ("", 1, "empty expression"),
    ],
)
def test_a_bad_expression_names_its_column(isa: Database, where, column, message) -> None:
    with pytest.raises(BadInput) as caught:
        selected(isa, where)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("--where", 1, column)
    assert str(problem).startswith(f"--where:1:{column}: {message}")
    assert str(problem).endswith(f"\n  {where}\n  {' ' * (column - 1)}^")


@pytest.mark.parametrize(
    "where",
    [
        "attr.city = 'x'' or ''1''=''1'",
        "tag = 'member'' --'",
        "attr.city = 'Köln'' OR 1=1 --'",
        "language = 'zh' or attr.name = '''; DROP TABLE subscriber; --'",
    ],
)
def test_sql_in_a_value_is_only_a_value(isa: Database, where: str) -> None:
    got = selected(isa, where)
    assert got <= {"bo", "chen"}  # at most the honest part of the expression
    with isa.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() == 7


@pytest.mark.parametrize(
    ("where", "column"),
    [
        ("language = 'zh'; DROP TABLE subscriber", 16),
        ("attr.x'y = 'a'", 14),
        ("list = 'isa'' or 1=1'", 8),
        ("language = 'zh' -- comment", 17),
    ],
)
def test_sql_outside_a_value_is_refused(isa: Database, where: str, column: int) -> None:
    with pytest.raises(BadInput) as caught:
        selected(isa, where)
    assert caught.value.problems[0].column == column


def run(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={"COLUMNS": "200"})


def test_saved_segments_and_a_campaign_to_one(isa: Database, tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[organisation]\nsender_email = "newsletter@isa.example.org"\n'
        f'[database]\nurl = "{isa.url}"\n[delivery]\ntransport = "maildir"\n',
        encoding="utf-8",
    )
    r = run(config, "segments", "save", "zh-members", "--where", "language = 'zh' and tag = 'x")
    assert r.exit_code == 2
    assert r.output.startswith("--where:1:27: unterminated 'text'\n")
    r = run(config, "segments", "list")
    assert r.output == "No segments yet. Save one with: newsletter segments save NAME --where …\n"
    where = "language = 'zh' and tag = 'member' and subscribed_before = 2021-01-01"
    r = run(config, "segments", "save", "zh-members", "--where", where)
    assert (r.exit_code, r.output) == (0, "Saved segment zh-members: 1 subscribers match now.\n")
    run(config, "segments", "save", "members", "--where", "tag = 'member'")
    r = run(config, "segments", "list", "--format", "csv", "--list", "press")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(x["name"], x["count"], x["expression"]) for x in rows] == [
        ("members", "1", "tag = 'member'"), ("zh-members", "0", where),
    ]  # fmt: skip
    r = run(config, "segments", "show", "members")
    assert r.output.startswith(
        "members: tag = 'member'\n  matches now: 2 confirmed subscribers on all lists\n"
    )
    r = run(config, "segments", "show", "nope")
    assert r.exit_code == 2 and "no segment 'nope'; saved: members, zh-members" in r.output

    r = run(config, "campaigns", "create", str(ISSUE), "--list", "isa", "--segment", "zh-members")
    assert r.exit_code == 0, r.output
    assert "Created campaign 1: issue 2021-07 to list isa, 1 recipients." in r.output
    r = run(config, "campaigns", "show", "1")
    assert f"Segment:    zh-members: {where}\n" in r.output
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "isa", "--again",
            "--where", "soft_bounces > 0")  # fmt: skip
    assert "Created campaign 2: issue 2021-07 to list isa, 1 recipients." in r.output
    assert "Segment:    --where soft_bounces > 0\n" in run(config, "campaigns", "show", "2").output
    r = run(config, "campaigns", "create", str(ISSUE), "--list", "isa", "--again",
            "--where", "soft_bounce > 0")  # fmt: skip
    assert r.exit_code == 2
    assert "--where:1:1: unknown field 'soft_bounce'" in r.output
