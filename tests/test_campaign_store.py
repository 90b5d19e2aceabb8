"""The campaign tables: schema matches migration 0002, GDPR access and erasure include them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from database_helpers import Backend
from delivery_helpers import World
from smtp_server import RecordingServer
from sqlmodel import SQLModel

import newsletter.campaigns.tables  # noqa: F401  (registers the tables)
from newsletter.campaigns.sender import run_campaign
from newsletter.subscribers import gdpr
from newsletter.transports.smtp import SmtpTransport


def test_models_match_migration_0002(world: World) -> None:
    with world.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    mine = [d for d in diff if "'campaign'" in repr(d) or "'delivery'" in repr(d)]
    assert mine == []


def test_data_export_and_forget_cover_the_delivery_log(world: World, backend: Backend) -> None:
    keep, gone = world.add(2)
    cid = world.campaign()
    with RecordingServer() as srv:
        run_campaign(world.db, world.settings, cid, SmtpTransport("127.0.0.1", srv.port))
    with world.db.session() as s:
        data = gdpr.personal_data(s, gone)
    (entry,) = data["deliveries"]
    assert entry["address"] == gone and entry["status"] == "sent" and entry["issue"] == "2021-07"
    with world.db.session() as s:
        report = gdpr.forget(s, gone)
    assert report.other["deliveries"] == 1
    log = world.log(cid)
    assert set(log) == {keep, None}
    erased = log[None]
    assert erased.status == "sent"  # the totals stay true
    assert (erased.subscriber_id, erased.message_id, erased.smtp_reply) == (None, None, None)
    assert world.counts(cid) == {"sent": 2}
    if backend.name == "sqlite":  # secure_delete; PostgreSQL keeps dead rows until VACUUM
        raw = world.tmp.joinpath("newsletter.sqlite").read_bytes()
        assert gone.encode() not in raw
