"""The recipient snapshot is one ``INSERT … SELECT``, and picks exactly who the rules say.

A varied population (unconfirmed, unsubscribed, suppressed, several lists, languages with and
without an edition, regional and oddly written tags, time zones, tags) is snapshotted by
``campaigns create``; the deliveries are compared row by row with a plain Python reading of
the rules, written here from their documentation: confirmed on the list, not suppressed,
the segment's condition, the edition of the person's language (through the catalogs'
fallback), else the list's, else the primary; in subscriber order. The local-time waves
scheduled afterwards get each recipient's zone by ``waves.zone_for``.
"""

from __future__ import annotations

import os
import pty
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from delivery_helpers import FakeRendered, World

from newsletter import languages
from newsletter.campaigns import store, waves
from newsletter.campaigns.tables import Delivery
from newsletter.db import hash_with
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.tables import MailingList, Subscriber, Subscription, Suppression
from newsletter.workers.schedule import schedule_local

TAGS = [None, "", "de", "de-AT", "en", "EN", "en-GB", "zh", "zh-Hans", "zh-CN", "zh-TW",
        "zh-hant", "fr-CH", "fr", "ar", "pt-BR", "xx", "not a tag"]  # fmt: skip
ZONES = [None, None, "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata"]
EDITIONS = ("en", "zh", "zh-Hant")
DAY = datetime(2021, 6, 1, tzinfo=UTC)


def population(world: World, n: int = 400, seed: int = 22) -> dict[str, Any]:
    """``n`` people in random order of id, with every case the rules distinguish."""
    rnd = random.Random(seed)
    secret = world.db.secret
    with world.db.session() as s:
        press = create_list(s, "press", "Press").id
        people = []
        for i in rnd.sample(range(n), n):  # ids not in the order of anything else
            address = f"p{i}@example.{rnd.choice(['org', 'com', 'net'])}"
            people.append(
                {
                    "email": address if i % 7 else address.replace("p", "P", 1),
                    "key": address.lower(),
                    "key_hash": hash_with(secret, address.lower()),
                    "name": rnd.choice([None, f"Leser {i}", "Ünal 王"]),
                    "language": rnd.choice(TAGS),
                    "timezone": rnd.choice(ZONES),
                    "attributes": rnd.choice([{}, {"tags": ["member"]}, {"tags": "member"}]),
                    "created_at": DAY,
                    "updated_at": DAY,
                }
            )
        s.execute(sa.insert(Subscriber.__table__), people)  # type: ignore[attr-defined]
        rows = s.execute(sa.select(Subscriber.id, Subscriber.key_hash)).all()  # type: ignore[call-overload]
        subscriptions, suppressed = [], []
        for sid, key_hash in rnd.sample(rows, len(rows)):  # subscriptions in yet another order
            for list_id in (world.list_id, press):
                status = rnd.choice(["confirmed"] * 6 + ["unconfirmed", "unsubscribed", None])
                if status is not None:
                    subscriptions.append(
                        {
                            "subscriber_id": sid,
                            "list_id": list_id,
                            "status": status,
                            "created_at": DAY + timedelta(days=rnd.randrange(60)),
                            "updated_at": DAY,
                        }
                    )
            if rnd.random() < 0.1:
                suppressed.append({"key_hash": key_hash, "reason": "bounce", "created_at": DAY})
        s.execute(sa.insert(Subscription.__table__), subscriptions)  # type: ignore[attr-defined]
        s.execute(sa.insert(Suppression.__table__), suppressed)  # type: ignore[attr-defined]
    return {"press": press}


def reference(
    world: World,
    picks: Callable[[Subscriber, dict[int, Subscription]], bool],
    list_language: str | None,
    primary: str = "de",
) -> list[tuple[Any, ...]]:
    """(subscriber id, address, name, edition) of every recipient, as the rules read."""
    by_catalog = {languages.resolve(e) or e: e for e in (primary, *EDITIONS)}

    def edition(tag: str | None) -> str:
        own = by_catalog.get(languages.resolve(tag) or "") if tag else None
        of_list = by_catalog.get(languages.resolve(list_language) or "") if list_language else None
        return own or of_list or primary

    with world.db.session() as s:
        suppressed = set(s.execute(sa.select(Suppression.key_hash)).scalars())
        memberships: dict[int, dict[int, Subscription]] = {}
        for sub in s.exec(sa.select(Subscription)).scalars():  # type: ignore[call-overload]
            memberships.setdefault(sub.subscriber_id, {})[sub.list_id] = sub
        out = []
        for person in sorted(s.exec(sa.select(Subscriber)).scalars(), key=lambda p: p.id):  # type: ignore[call-overload]
            mine = memberships.get(person.id, {})
            news = mine.get(world.list_id)
            if news is None or news.status != "confirmed" or person.key_hash in suppressed:
                continue
            if picks(person, mine):
                out.append((person.id, person.email, person.name, edition(person.language)))
    return out


def snapshot(world: World, **kw: Any) -> tuple[int, list[tuple[Any, ...]]]:
    editions = [(replace(FakeRendered(), language=lang, subject=lang), None) for lang in EDITIONS]
    with world.db.session() as s:
        c = store.create_campaign(s, FakeRendered(), "news", editions=editions, again=True, **kw)
        cid, count = c.id, c.recipients
    assert cid is not None
    with world.db.session() as s:
        rows = s.execute(
            sa.select(
                Delivery.subscriber_id,
                Delivery.address,
                Delivery.name,
                Delivery.edition,
                Delivery.status,
                Delivery.attempts,
                Delivery.kind,
            )
            .where(Delivery.campaign_id == cid)
            .order_by(Delivery.id)  # type: ignore[arg-type]
        ).all()
    assert {r[4:] for r in rows} <= {("queued", 0, "campaign")}
    assert count == len(rows)
    return cid, [tuple(r[:4]) for r in rows]


def set_list_language(world: World, language: str | None) -> None:
    with world.db.session() as s:
        s.execute(
            sa.update(MailingList)
            .where(MailingList.id == world.list_id)  # type: ignore[arg-type]
            .values(language=language)
        )


@pytest.mark.parametrize("list_language", [None, "zh-TW", "fr"])
def test_snapshot_matches_the_rules_for_every_kind_of_person(
    world: World, list_language: str | None
) -> None:
    population(world)
    set_list_language(world, list_language)
    _, got = snapshot(world)
    want = reference(world, lambda p, m: True, list_language)
    assert len(want) > 150  # the population is not mostly excluded
    assert {e for *_, e in want} == {"de", "en", "zh", "zh-Hant"}
    assert got == want


def _tagged(person: Subscriber) -> bool:
    tags = person.attributes.get("tags")
    return isinstance(tags, list) and "member" in tags


SEGMENTS: dict[str, Callable[[Subscriber, dict[int, Subscription]], bool]] = {
    "language = 'zh' or tag = 'member'": lambda p, m: (
        (bool(p.language) and (p.language == "zh" or p.language.startswith("zh-"))) or _tagged(p)
    ),
    "not list = 'press' and subscribed_after = 2021-07-01": lambda p, m: (
        (m.get(2) is None or m[2].status != "confirmed")
        and m[1].created_at >= datetime(2021, 7, 1, tzinfo=UTC)
    ),
}


@pytest.mark.parametrize("where", list(SEGMENTS))
def test_segment_snapshot_matches_the_rules(world: World, where: str) -> None:
    population(world)
    _, got = snapshot(world, where=where)
    want = reference(world, SEGMENTS[where], None)
    assert 0 < len(want) < 300
    assert got == want


def test_waves_after_the_snapshot_time_everyone_in_their_zone(world: World) -> None:
    population(world)
    with world.db.session() as s:
        s.execute(
            sa.update(MailingList)
            .where(MailingList.id == world.list_id)  # type: ignore[arg-type]
            .values(timezone_from_language=True)
        )
    cid, got = snapshot(world)
    with world.db.session() as s:
        schedule_local(s, cid, "09:00", on="2099-01-05", zone="Europe/Lisbon", late=None,
                       window=None, rates={}, queue="newsletter")  # fmt: skip
    with world.db.session() as s:
        zones = dict(
            s.execute(
                sa.select(Delivery.subscriber_id, Delivery.zone).where(Delivery.campaign_id == cid)
            ).all()
        )
        people = {p.id: p for p in s.exec(sa.select(Subscriber)).scalars()}  # type: ignore[call-overload]
    want = {
        sid: waves.zone_for(
            people[sid].timezone,
            people[sid].language,
            list_zone=None,
            from_language=True,
            campaign_zone="Europe/Lisbon",
        )
        for sid, *_ in got
    }
    assert zones == want
    assert {"Asia/Shanghai", "Asia/Taipei", "Asia/Tokyo", "Europe/Lisbon"} <= set(zones.values())


def test_the_snapshot_is_one_insert_statement(world: World) -> None:
    """A million recipients must not mean a thousand round trips (issue #22): the old
    snapshot read every subscriber into Python and wrote 1,000-row batches."""
    world.add(2500)
    inserts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERY"):
            inserts.append(statement)

    sa.event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        cid = world.campaign()
    finally:
        sa.event.remove(world.db.engine, "before_cursor_execute", count)
    assert len(inserts) == 1 and "SELECT" in inserts[0]
    assert world.counts(cid) == {"queued": 2500}


def test_nothing_is_written_when_the_snapshot_fails(world: World) -> None:
    """The campaign row, its editions and its deliveries are one transaction."""
    world.add(50)

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERY"):
            raise RuntimeError("the disk is full")

    sa.event.listen(world.db.engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            world.campaign()
    finally:
        sa.event.remove(world.db.engine, "before_cursor_execute", fail)
    with world.db.session() as s:
        for table in ("campaign", "campaign_edition", "delivery"):
            assert s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_campaigns_create_shows_a_spinner_on_a_terminal(world: World) -> None:
    """A snapshot of a million takes seconds: on a terminal, stderr says what is going on."""
    world.add(3)
    root = Path(__file__).resolve().parent.parent
    config = world.tmp / "newsletter.toml"
    config.write_text(
        (root / "newsletter.toml").read_text(encoding="utf-8").split("[database]")[0]
        + f'\n[database]\nurl = "{world.settings.database_url}"\n',
        encoding="utf-8",
    )
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "100", "TERM": "xterm"}
    issue = root / "issues" / "2021-07.yaml"
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "campaigns", "create"]
    proc = subprocess.run(
        [*command, str(issue), "--list", "news"],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=world.tmp,
        timeout=120,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith("Created campaign 1: issue 2021-07 to list news, 3 ")
    assert "Creating the campaign of 2021-07.yaml" in shown.decode(errors="replace")
