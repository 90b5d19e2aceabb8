"""Fixtures for the delivery tests: a real database with subscribers, and issues.

Imported by the test modules (``from delivery_helpers import world``) rather
than living in conftest.py, so the delivery tests carry their own setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.campaigns import store
from newsletter.config import Delivery, Organisation, Settings, Smtp
from newsletter.db import Database, hash_with
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.tables import Subscriber, Subscription

ROOT = Path(__file__).resolve().parent.parent
LONG_LINE = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12


@dataclass(frozen=True)
class FakeRendered:
    """What render_issue returns, built by hand so tests control every byte."""

    subject: str = "Neuigkeiten aus der Städteallianz"
    html: str = (
        "<html><body><p>Hallo %%RECIPIENT_NAME%%,</p>"
        f"<p>{LONG_LINE}</p>"
        '<p><a href="https://www.isa-portal.de/news?id=7&amp;lang=de">Mehr lesen</a></p>'
        '<p><a href="https://newsletter.example.org/archive/2021-07/">Im Browser ansehen</a>'
        f' · {"x" * 60}<a href="%%UNSUBSCRIBE_URL%%">Abmelden</a></p></body></html>'
    )
    text: str = (
        f"Hallo %%RECIPIENT_NAME%%,\n\n{LONG_LINE}\n\n"
        "Mehr lesen: https://www.isa-portal.de/news?id=7&lang=de\n"
        "Im Browser ansehen: https://newsletter.example.org/archive/2021-07/\n"
        f"{'y' * 70}Abmelden: %%UNSUBSCRIBE_URL%%\n"
    )
    slug: str = "2021-07"
    language: str = "de"
    view_url: str = "https://newsletter.example.org/archive/2021-07/"


def make_settings(tmp: Path, database_url: str | None = None, **delivery: Any) -> Settings:
    """Settings as if read from ``tmp/newsletter.toml``: the key file and outbox live in ``tmp``."""
    return Settings(
        organisation=Organisation(
            name="ISA",
            sender_name="ISA-Newsletter",
            sender_email="newsletter@isa.example.org",
            reply_to="isa@isa.example.org",
        ),
        delivery=replace(
            Delivery(),
            outbox=str(tmp / "outbox"),
            unsubscribe_mailto="unsubscribe@isa.example.org",
            retry_base_seconds=0.05,
            **delivery,
        ),
        smtp=Smtp(timeout=2.0),
        database_url=database_url or "sqlite:///:memory:",
        source=tmp / "newsletter.toml",
    )


class World:
    """A database with a list ``news``; helpers to add people and campaigns."""

    def __init__(self, tmp: Path, database_url: str, **delivery: Any):
        self.tmp = tmp
        self.settings = make_settings(tmp, database_url, **delivery)
        self.db = Database.from_settings(self.settings)
        with self.db.session() as s:
            ml = create_list(s, "news", "ISA-Newsletter")
            self.list_id = ml.id

    def configure(self, **delivery: Any) -> None:
        self.settings = replace(self.settings, delivery=replace(self.settings.delivery, **delivery))

    def add(self, n: int, *, status: str = "confirmed", prefix: str = "user") -> list[str]:
        """Bulk-add ``n`` subscribers to ``news`` (fast enough for thousands)."""
        now = datetime.now(UTC)
        secret = self.db.secret
        with self.db.session() as s:
            start = s.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() or 0
            addrs = [f"{prefix}{start + i}@example.com" for i in range(n)]
            rows = [
                {
                    "email": a,
                    "key": a,
                    "key_hash": hash_with(secret, a),
                    "name": f"Leser {start + i}",
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i, a in enumerate(addrs)
            ]
            s.execute(sa.insert(Subscriber.__table__), rows)  # type: ignore[attr-defined]
            ids = s.execute(
                sa.select(Subscriber.id).where(Subscriber.key.in_(addrs))  # type: ignore[attr-defined]
            ).scalars()
            s.execute(
                sa.insert(Subscription.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "subscriber_id": i,
                        "list_id": self.list_id,
                        "status": status,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
        return addrs

    def campaign(self, rendered: Any = None, **kw: Any) -> int:
        with self.db.session() as s:
            c = store.create_campaign(s, rendered or FakeRendered(), "news", **kw)
            assert c.id is not None
            return c.id

    def log(self, campaign_id: int) -> dict[str, Any]:
        """address → delivery row."""
        with self.db.session() as s:
            return {d.address: d for d in store.iter_log(s, campaign_id)}

    def counts(self, campaign_id: int) -> dict[str, int]:
        with self.db.session() as s:
            return store.status_counts(s, campaign_id)

    def state(self, campaign_id: int) -> str:
        with self.db.session() as s:
            return store.summarize(s, store.get_campaign(s, campaign_id)).state


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = World(tmp_path, database_url)
    yield w
    w.db.dispose()
