"""``newsletter demo``: the whole pipeline on sample data, into a Maildir outbox.

The demo is the embedded default: its issue (ISA, July 2021, with its sample
Chinese edition), organisation profile and 50 sample subscribers ship inside
this package (``data/``, copies of ``issues/2021-07.yaml``,
``issues/2021-07.zh.yaml``, ``newsletter.toml`` and ``subscribers/sample.csv``
that a test keeps equal), so it runs from any folder after ``pip install``.
Each subscriber gets the edition of their language; English readers get the
list's German.

It never touches the configured database or outbox: it rebuilds its own
``demo/`` folder (database, key, outbox) on every run, so running it twice
gives the same result instead of "already sent" errors, and a real
subscriber database can sit next to it safely.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa

from newsletter.campaigns import store
from newsletter.campaigns.sender import Progress, RunResult, run_campaign
from newsletter.campaigns.tables import Delivery
from newsletter.config import load_settings
from newsletter.db import Database
from newsletter.subscribers.importing import ImportReport, import_file
from newsletter.subscribers.lists import create_list
from newsletter.transports.maildir import MaildirTransport
from newsletter.workbench.publish import render_editions

DATA = Path(__file__).with_name("data")
SAMPLE_ISSUE = DATA / "issue.yaml"
SAMPLE_EDITION = DATA / "issue.zh.yaml"  # found by its name as the Chinese edition
SAMPLE_PROFILE = DATA / "newsletter.toml"
SAMPLE_SUBSCRIBERS = DATA / "subscribers.csv"
DEMO_LIST = "isa-de"  # the list the README's tour creates
DEMO_FILES = (
    "newsletter.sqlite",
    "newsletter.sqlite-wal",
    "newsletter.sqlite-shm",
    "newsletter.sqlite.key",
    "outbox",
    "eml",
)


@dataclass(frozen=True)
class DemoReport:
    directory: Path
    database: Path
    outbox: Path
    eml: Path
    slug: str
    subject: str
    imported: ImportReport
    campaign_id: int
    recipients: int
    result: RunResult
    # (language, recipients) per language edition, the primary first
    editions: tuple[tuple[str | None, int], ...] = ()


def run_demo(
    directory: Path, *, on_progress: Callable[[Progress], None] | None = None
) -> DemoReport:
    """Import the sample subscribers, render the sample issue, deliver it to a Maildir."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:  # only what an earlier demo made
        p = directory / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    database = directory / "newsletter.sqlite"
    outbox = directory / "outbox"
    profile = load_settings(SAMPLE_PROFILE)
    settings = replace(
        profile,
        database_url=f"sqlite:///{database}",
        delivery=replace(profile.delivery, transport="maildir", outbox=str(outbox)),
    )
    db = Database.from_settings(settings)
    try:
        editions = render_editions(SAMPLE_ISSUE, settings)
        issue = editions.editions.primary.issue
        with db.session() as s:
            create_list(
                s,
                DEMO_LIST,
                settings.organisation.sender_name,
                language=settings.organisation.language,
            )
            imported = import_file(
                s,
                SAMPLE_SUBSCRIBERS,
                list_slug=DEMO_LIST,
                status="confirmed",
                consent_note="demo data shipped with newsletter",
                skip_invalid=True,
            )
        with db.session() as s:
            campaign = store.create_campaign(
                s,
                editions.primary,
                DEMO_LIST,
                source="demo sample issue",
                editions=[(r, "demo sample edition") for r, _ in editions.others()],
            )
            assert campaign.id is not None
            cid, recipients = campaign.id, campaign.recipients
            per_edition = tuple(
                (e.language, e.recipients) for e in store.summarize(s, campaign).editions
            )
        result = run_campaign(db, settings, cid, MaildirTransport(outbox), on_progress=on_progress)
        eml = _eml_copies(db, cid, outbox, directory / "eml")
    finally:
        db.dispose()
    return DemoReport(
        directory, database, outbox, eml, issue.slug, issue.subject, imported, cid, recipients,
        result, per_edition,
    )  # fmt: skip


def _eml_copies(db: Database, campaign_id: int, outbox: Path, target: Path) -> Path:
    """Every sent message again as ``NNN-address.eml``: a desktop mail client opens those
    on a double click, while nothing but a mail program reads a Maildir."""
    target.mkdir()
    query = (
        sa.select(Delivery.id, Delivery.address, Delivery.queue_id)  # type: ignore[call-overload]
        .where(Delivery.campaign_id == campaign_id, Delivery.status == "sent")
        .order_by(Delivery.id)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
    for delivery_id, address, queue_id in rows:
        source = outbox / "new" / queue_id
        name = f"{delivery_id:03d}-{(address or '').replace('/', '_')}.eml"
        try:
            os.link(source, target / name)  # the same bytes; no second copy on disk
        except OSError:
            shutil.copyfile(source, target / name)
    return target
