"""The delivery log's references without foreign keys (migration 0019).

The snapshot writes a million deliveries in one statement; PostgreSQL's per-row
foreign-key checks were 60 % of its CPU, so ``delivery`` has none, and triggers
on the referenced tables do what ``ON DELETE`` did. These tests hold what the
foreign keys promised: deleting a campaign deletes its log, deleting a person
leaves no id that could point at someone else (SQLite reuses ids), also when the
deletion and a snapshot run at the same time (PostgreSQL's advisory lock).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from delivery_helpers import FakeRendered, World

from newsletter.campaigns import snapshot, store
from newsletter.campaigns.tables import Delivery
from newsletter.subscribers.people import remove_subscriber
from newsletter.subscribers.tables import Subscriber

MIGRATION = (
    Path(__file__).resolve().parent.parent
    / "newsletter/db/migrations/versions/0019_delivery_references.py"
)


def _rows(world: World) -> list[tuple[int | None, int | None, str]]:
    with world.db.engine.connect() as c:
        return [
            tuple(r)  # type: ignore[misc]
            for r in c.execute(
                sa.select(Delivery.campaign_id, Delivery.subscriber_id, Delivery.address).order_by(
                    Delivery.id  # type: ignore[arg-type]
                )
            )
        ]


def _subscriber_id(world: World, address: str) -> int:
    with world.db.engine.connect() as c:
        return c.execute(sa.select(Subscriber.id).where(Subscriber.email == address)).scalar_one()


def test_delivery_has_no_foreign_keys_and_the_triggers_exist(world: World) -> None:
    inspector = sa.inspect(world.db.engine)
    assert inspector.get_foreign_keys("delivery") == []
    with world.db.engine.connect() as c:
        if world.db.is_sqlite:
            found = c.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            ).scalars()
        else:
            found = c.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
            ).scalars()
        assert {"campaign_deleted", "subscriber_deleted"} <= set(found)


def test_the_migration_and_the_snapshot_share_one_lock() -> None:
    spec = importlib.util.spec_from_file_location("m0019", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert ", ".join(map(str, snapshot.SNAPSHOT_LOCK)) == module._LOCK


def test_removing_a_subscriber_clears_their_id_and_keeps_the_log(world: World) -> None:
    anna, ben = world.add(2)
    cid = world.campaign()
    anna_id, ben_id = _subscriber_id(world, anna), _subscriber_id(world, ben)
    with world.db.session() as s:
        remove_subscriber(s, anna)
    assert _rows(world) == [(cid, None, anna), (cid, ben_id, ben)]
    # SQLite gives the next subscriber the highest free id: the removed one's, if it was last
    with world.db.session() as s:
        remove_subscriber(s, ben)
    (carla,) = world.add(1, prefix="carla")
    carla_id = _subscriber_id(world, carla)
    assert anna_id not in {r[1] for r in _rows(world)}
    assert [r[1] for r in _rows(world)] == [None, None], (ben_id, carla_id)


def test_deleting_a_subscriber_in_sql_clears_their_id(world: World) -> None:
    """Not only our code paths: an admin's ``DELETE`` in a SQL shell too."""
    (anna,) = world.add(1)
    cid = world.campaign()
    with world.db.engine.begin() as c:
        c.exec_driver_sql(f"DELETE FROM subscriber WHERE id = {_subscriber_id(world, anna)}")
    assert _rows(world) == [(cid, None, anna)]


def test_deleting_a_campaign_deletes_its_deliveries_only(world: World) -> None:
    anna, ben = world.add(2)
    first, second = world.campaign(), world.campaign(again=True)
    with world.db.engine.begin() as c:
        c.exec_driver_sql(f"DELETE FROM campaign WHERE id = {first}")
    assert [(r[0], r[2]) for r in _rows(world)] == [(second, anna), (second, ben)]


@pytest.mark.postgresql_only
def test_a_deletion_during_a_snapshot_waits_and_then_clears_the_new_rows(world: World) -> None:
    anna, ben = world.add(2)
    anna_id = _subscriber_id(world, anna)
    deleted = threading.Event()

    def delete_anna() -> None:
        with world.db.engine.begin() as c:
            c.exec_driver_sql(f"DELETE FROM subscriber WHERE id = {anna_id}")
        deleted.set()

    with world.db.session() as s:
        campaign = store.create_campaign(s, FakeRendered(), "news")
        deleter = threading.Thread(target=delete_anna)
        deleter.start()
        # the snapshot's rows are not committed: the deletion must wait for them
        assert not deleted.wait(1.0), "the deletion did not wait for the snapshot"
        s.commit()
    deleter.join(10)
    assert deleted.is_set()
    ben_id = _subscriber_id(world, ben)
    assert _rows(world) == [(campaign.id, None, anna), (campaign.id, ben_id, ben)]


@pytest.mark.postgresql_only
def test_a_snapshot_after_an_uncommitted_deletion_waits_and_leaves_the_person_out(
    world: World,
) -> None:
    anna, ben = world.add(2)
    anna_id = _subscriber_id(world, anna)
    created: list[int] = []

    def snapshot_now() -> None:
        created.append(world.campaign())

    with world.db.engine.connect() as c:
        c.exec_driver_sql(f"DELETE FROM subscriber WHERE id = {anna_id}")
        maker = threading.Thread(target=snapshot_now)
        maker.start()
        time.sleep(1.0)
        assert not created, "the snapshot did not wait for the deletion"
        c.commit()
    maker.join(20)
    assert created
    assert _rows(world) == [(created[0], _subscriber_id(world, ben), ben)]
