"""`campaigns schedule --local` picks each recipient's zone in SQL: the same zone as
``waves.zone_for``, for every kind of subscriber and list, on SQLite and PostgreSQL.

tests/test_local_time.py sends the waves with real workers; this checks the rule the
database now applies to a whole campaign in one statement (issue 22) against the
Python rule, case by case, including the ones a translation to SQL gets wrong: an
empty zone, upper-case and longer language tags, a tag that only starts like a key.
"""

from __future__ import annotations

from datetime import date, time

import pytest
import sqlalchemy as sa
from delivery_helpers import World

from newsletter.campaigns import waves
from newsletter.campaigns.statements import D
from newsletter.workers import schedule

# (zone given, language) of one subscriber each
PEOPLE = [
    ("Asia/Tokyo", "zh"),
    ("", "zh-Hans"),
    ("", None),
    (None, None),
    (None, "zh-Hans"),
    (None, "ZH-hant-TW"),
    (None, "zh-Hant"),
    (None, "zh-hk"),
    (None, "zh-"),
    (None, "zhx"),
    (None, "ja-JP"),
    (None, "ko"),
    (None, "de"),
    (None, ""),
    ("America/New_York", "ko"),
]


def _people(world: World) -> dict[str, tuple[str | None, str | None]]:
    found = {}
    for i, (zone, language) in enumerate(PEOPLE):
        (address,) = world.add(1, prefix=f"p{i}-")
        found[address] = (zone, language)
        with world.db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE subscriber SET timezone = :z, language = :l WHERE email = :e"),
                {"z": zone, "l": language, "e": address},
            )
    return found


@pytest.mark.parametrize(
    ("list_zone", "from_language"),
    [(None, True), (None, False), ("", True), ("America/Chicago", True)],
)
def test_each_delivery_gets_the_zone_and_wave_zone_for_gives(
    world: World, list_zone: str | None, from_language: bool
) -> None:
    people = _people(world)
    with world.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE mailing_list SET timezone = :z, timezone_from_language = :f"),
            {"z": list_zone, "f": from_language},
        )
    cid = world.campaign()
    with world.db.session() as s:
        done = schedule.schedule_local(
            s, cid, "09:00", on="2031-01-14", zone="Europe/London", late=None, window=None,
            rates={}, queue="default",
        )  # fmt: skip
    expected = {
        address: waves.zone_for(
            zone,
            language,
            list_zone=list_zone or None,
            from_language=from_language,
            campaign_zone="Europe/London",
        )
        for address, (zone, language) in people.items()
    }
    with world.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(D.c.address, D.c.zone, D.c.wave, D.c.next_attempt_at, D.c.status).where(
                D.c.campaign_id == cid
            )
        ).all()
    assert {r.address: r.zone for r in rows} == expected
    number = {zone: w.number for w in done.waves for zone in w.zones}
    for r in rows:
        at = waves.instant(date(2031, 1, 14), time(9, 0), r.zone)
        assert r.wave == number[r.zone] and r.status == "queued"
        assert r.next_attempt_at == at
    assert sorted(w.recipients for w in done.waves) == sorted(
        sum(1 for z in expected.values() if z in w.zones) for w in done.waves
    )
