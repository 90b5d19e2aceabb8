"""One campaign, two editions: each subscriber gets the issue in their language (real Maildir)."""

from __future__ import annotations

import csv
import email
import io
import re
from dataclasses import replace
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from delivery_helpers import World
from edition_helpers import ISA_CONFIG, ISSUES, lang_of

from newsletter.campaigns import sender, store
from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.db import Database
from newsletter.subscribers.tables import MailingList, Subscriber
from newsletter.transports import open_transport
from newsletter.workbench.publish import create_campaign_from_file

JULY = ISSUES / "2021-07.yaml"
SUBJECT = {"de": "ISA-Newsletter Juli 2021", "zh": "ISA 通讯 2021年7月"}


@pytest.fixture
def isa(world: World) -> World:
    """The delivery world with the ISA's organisation, so the real issue renders as sent."""
    world.settings = replace(world.settings, organisation=load_settings(ISA_CONFIG).organisation)
    return world


def people(world: World, language: str | None, n: int = 2) -> list[str]:
    """``n`` confirmed subscribers of ``news`` whose language is ``language``."""
    addrs = world.add(n, prefix=f"{language or 'none'}-")
    with world.db.session() as s:
        s.execute(
            sa.update(Subscriber)
            .where(Subscriber.email.in_(addrs))  # type: ignore[attr-defined]
            .values(language=language, name="Leser")
        )
    return addrs


def set_list_language(world: World, language: str | None) -> None:
    with world.db.session() as s:
        s.execute(sa.update(MailingList).values(language=language))


def send_july(world: World, issue: Path = JULY) -> int:
    with world.db.session() as s:
        c, _ = create_campaign_from_file(s, issue, "news", world.settings)
        cid = c.id
    assert cid is not None
    sender.run_campaign(world.db, world.settings, cid, open_transport(world.settings))
    return cid


def delivered(world: World) -> dict[str, EmailMessage]:
    """Recipient address → the message the Maildir outbox holds for them."""
    out = {}
    for f in (world.tmp / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(f.read_bytes(), policy=default)
        out[str(msg["To"]).split("<")[-1].rstrip(">")] = msg  # type: ignore[assignment]
    return out


def html_of(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_german_and_chinese_subscribers_get_their_own_edition(isa: World) -> None:
    german, chinese = people(isa, "de"), people(isa, "zh")
    cid = send_july(isa)
    messages = delivered(isa)
    assert sorted(messages) == sorted(german + chinese)
    for language, addrs in (("de", german), ("zh", chinese)):
        for a in addrs:
            msg = messages[a]
            assert msg["Content-Language"] == language
            assert msg["Subject"] == SUBJECT[language]
            html = html_of(msg)
            assert re.search(rf'<html[^>]* lang="{language}"', html)
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            view = f"/archive/2021-07/{'zh/' if language == 'zh' else ''}"
            assert view in text and view in html
    assert lang_of(html_of(messages[chinese[0]]), "征集国际初创企业开展合作") == "zh"
    assert "Internationale Startups" in html_of(messages[german[0]])
    assert "中德工业城市联盟" not in html_of(messages[german[0]])
    # the delivery log says which edition each got
    log = isa.log(cid)
    assert {a: log[a].edition for a in german + chinese} == {
        **dict.fromkeys(german, "de"),
        **dict.fromkeys(chinese, "zh"),
    }
    assert {log[a].status for a in log} == {"sent"}


def test_the_edition_falls_back_to_the_list_language_then_the_first_edition(isa: World) -> None:
    english, nobody, regional = people(isa, "en", 1), people(isa, None, 1), people(isa, "zh-CN", 1)
    set_list_language(isa, "zh")
    first = send_july(isa)
    log = isa.log(first)
    # English is no edition: the list's language decides; "zh-CN" is the zh edition
    assert [log[a].edition for a in (*english, *nobody, *regional)] == ["zh", "zh", "zh"]

    set_list_language(isa, "fr")  # a list language without an edition: the primary (German)
    with isa.db.session() as s:
        c, _ = create_campaign_from_file(s, JULY, "news", isa.settings, again=True)
        second = c.id
    log = isa.log(second or 0)
    assert [log[a].edition for a in (*english, *nobody, *regional)] == ["de", "de", "zh"]


def test_within_an_edition_every_byte_but_the_personal_ones_is_identical(isa: World) -> None:
    chinese = people(isa, "zh", 3)
    people(isa, "de", 1)
    send_july(isa)
    messages = delivered(isa)
    bodies = set()
    for a in chinese:
        raw = messages[a].as_bytes()
        tokens = re.findall(rb"https?://[^\s\"<>]*/(?:unsubscribe|manage)/([0-9a-z-]+)", raw)
        assert len(set(tokens)) == 1, tokens  # one token: the unsubscribe and manage links
        _, body = raw.split(b"\n\n", 1)  # headers: To, Message-ID, List-Unsubscribe differ
        bodies.add(body.replace(tokens[0], b"TOKEN"))
    assert len(bodies) == 1


def cli_config(world: World) -> Path:
    path = world.tmp / "newsletter.toml"
    path.write_text(
        ISA_CONFIG.read_text(encoding="utf-8").split("[delivery]")[0]
        + f'[delivery]\ntransport = "maildir"\noutbox = "{world.tmp / "outbox"}"\n'
        f'[database]\nurl = "{world.settings.database_url}"\n',
        encoding="utf-8",
    )
    return path


def test_campaigns_create_show_log_and_proofs_speak_of_editions(isa: World) -> None:
    german, chinese = people(isa, "de", 2), people(isa, "zh", 1)
    config = cli_config(isa)

    def run(*args: str) -> tuple[int, str]:
        r = CliRunner().invoke(cli, ["--config", str(config), *args])
        return r.exit_code, r.output

    # naming the Chinese file finds the whole issue: one campaign of both editions
    code, out = run("campaigns", "create", str(ISSUES / "2021-07.zh.yaml"), "--list", "news")
    assert code == 0, out
    assert out == (
        "Created campaign 1: issue 2021-07 to list news, 3 recipients.\n"
        "Editions: de 2, zh 1.\n"
        "Send it with: newsletter campaigns send 1\n"
    )
    code, out = run("campaigns", "send", "1", "--yes")
    assert (code, out) == (0, "Campaign 1: finished (3 sent)\n")
    _, out = run("campaigns", "show", "1")
    assert "Editions:\n" in out
    assert "  de                2  ISA-Newsletter Juli 2021 (2 sent)\n" in out
    assert "  zh                1  ISA 通讯 2021年7月 (1 sent)\n" in out
    _, out = run("log", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["address"]: r["edition"] for r in rows} == {
        **dict.fromkeys(german, "de"),
        **dict.fromkeys(chinese, "zh"),
    }
    _, out = run("log", "1")
    assert re.search(rf"{re.escape(chinese[0])}\s*│\s*zh\s*│\s*sent", out), out

    code, out = run("send", str(JULY), "--to", "editor@example.org", "--edition", "zh")
    assert code == 0, out
    assert out.startswith("Proof of 2021-07 (zh) to editor@example.org: sent")
    proof = delivered(isa)["editor@example.org"]
    assert proof["Subject"] == SUBJECT["zh"] and proof["Content-Language"] == "zh"
    code, out = run("send", str(JULY), "--to", "editor@example.org", "--edition", "en")
    assert code == 2
    assert f"{JULY}: no 'en' edition of this issue (it has: de, zh)" in out
    missing = isa.tmp / "2021-08.yaml"
    code, out = run("campaigns", "create", str(missing), "--list", "news")
    assert (code, out) == (2, f"Error: {missing}: file not found\n")


def test_deliveries_from_before_editions_get_their_campaign_language(new_database_url) -> None:
    db = Database(new_database_url("editions", migrated=False))
    db.upgrade("0006")
    with db.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO campaign (uid, kind, issue_slug, list_slug, list_name, subject, html, "
            "text, language, status, recipients, created_at) VALUES ('u', 'campaign', '2021-07', "
            "'news', 'News', 's', 'h', 't', 'de', 'finished', 1, '2024-06-02 00:00:00+00')"
        )
        c.exec_driver_sql(
            "INSERT INTO delivery (kind, campaign_id, address, status, attempts, queued_at) "
            "VALUES ('campaign', 1, 'anna@example.org', 'sent', 1, '2024-06-02 00:00:00+00')"
        )
    db.upgrade()
    with db.session() as s:
        (row,) = list(store.iter_log(s, 1))
        totals = store.summarize(s, store.get_campaign(s, 1)).editions
    assert row.edition == "de"
    assert [(t.language, t.recipients) for t in totals] == [("de", 1)]
    db.downgrade("0006")
    db.dispose()
