"""``newsletter demo``: the whole pipeline on sample data, into a Maildir outbox.

The demo never touches the configured database or outbox: it rebuilds its own
``demo/`` folder (database, key, outbox) on every run, so running it twice
gives the same result instead of "already sent" errors, and a real
subscriber database can sit next to it safely.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from newsletter.campaigns import store
from newsletter.campaigns.sender import Progress, RunResult, run_campaign
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.errors import BadInput
from newsletter.issue.files import issue_files
from newsletter.issue.load import load_issue
from newsletter.render import render_issue
from newsletter.subscribers.importing import ImportReport, import_file
from newsletter.subscribers.lists import create_list
from newsletter.transports.maildir import MaildirTransport

DEMO_LIST = "isa"
DEMO_FILES = (
    "newsletter.sqlite",
    "newsletter.sqlite-wal",
    "newsletter.sqlite-shm",
    "newsletter.sqlite.key",
    "outbox",
)


@dataclass(frozen=True)
class DemoReport:
    directory: Path
    database: Path
    outbox: Path
    issue: Path
    imported: ImportReport
    campaign_id: int
    recipients: int
    result: RunResult


def latest_issue(issues_dir: Path) -> Path:
    """The newest issue's primary file (``YYYY-MM.yaml`` sorts by date; editions follow it)."""
    files = issue_files(issues_dir)
    if not files:
        raise BadInput(f"no issues/*.yaml found in {issues_dir}")
    return files[-1]


def run_demo(
    settings: Settings,
    root: Path,
    *,
    directory: Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DemoReport:
    """Import the sample subscribers, render the latest issue, deliver it to a Maildir."""
    directory = directory or root / "demo"
    sample = root / "subscribers" / "sample.csv"
    if not sample.exists():
        raise BadInput(f"sample subscribers not found: {sample}")
    issue_path = latest_issue(root / "issues")
    directory.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:  # only what an earlier demo made
        p = directory / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    database = directory / "newsletter.sqlite"
    outbox = directory / "outbox"
    settings = replace(
        settings,
        database_url=f"sqlite:///{database}",
        delivery=replace(settings.delivery, transport="maildir", outbox=str(outbox)),
    )
    db = Database.from_settings(settings)
    try:
        rendered = render_issue(load_issue(issue_path), settings)
        with db.session() as s:
            create_list(s, DEMO_LIST, settings.organisation.sender_name)
            imported = import_file(
                s,
                sample,
                list_slug=DEMO_LIST,
                status="confirmed",
                consent_note="demo data from subscribers/sample.csv",
                skip_invalid=True,
            )
        with db.session() as s:
            campaign = store.create_campaign(s, rendered, DEMO_LIST, source=str(issue_path))
            assert campaign.id is not None
            cid, recipients = campaign.id, campaign.recipients
        result = run_campaign(db, settings, cid, MaildirTransport(outbox), on_progress=on_progress)
    finally:
        db.dispose()
    return DemoReport(directory, database, outbox, issue_path, imported, cid, recipients, result)
