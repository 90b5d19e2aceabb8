"""Imports on PostgreSQL write with ``COPY``, and judge rows exactly as the INSERT path does.

The COPY path (``subscribers.bulk``) must not change what an import means: the same rows
rejected with the same messages, the same people stored, and nothing written when a bad row
comes after batches that were already copied.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from subscriber_helpers import FIXTURES

from newsletter.db import Database
from newsletter.subscribers.bulk import Bulk
from newsletter.subscribers.importing import import_file
from newsletter.subscribers.tables import ConsentEvent, Subscriber, Subscription

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The COPY statements psycopg runs during the test."""
    seen: list[str] = []
    original = psycopg.Cursor.copy

    def copy(self: psycopg.Cursor, statement: str, *args: object, **kw: object) -> object:
        seen.append(str(statement))
        return original(self, statement, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    yield seen


def stored(db: Database) -> list[tuple]:
    with db.session() as s:
        rows = s.execute(
            sa.select(
                Subscriber.email,
                Subscriber.name,
                Subscriber.language,
                Subscriber.attributes,
                Subscription.status,
                Subscription.source,
            ).join(Subscription, Subscription.subscriber_id == Subscriber.id)  # type: ignore[arg-type]
        ).all()
        events = s.execute(sa.select(ConsentEvent.action, ConsentEvent.source)).all()
    return sorted(tuple(r) for r in rows) + sorted(tuple(e) for e in events)


def wipe(db: Database) -> None:
    with db.session() as s:
        for table in ("consent_event", "subscription", "suppression", "subscriber"):
            s.execute(sa.text(f"DELETE FROM {table}"))


def run(db: Database, path: Path, **kw: object) -> tuple[list[str], list[tuple]]:
    with db.session() as s:
        report = import_file(s, path, list_slug="news", batch_size=2, **kw)  # type: ignore[arg-type]
    return [str(p) for p in report.rejected + report.merged], stored(db)


def test_copy_imports_what_insert_imports(
    news: Database, tmp_path: Path, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "invalid_rows.csv"
    shutil.copy(FIXTURES / "invalid_rows.csv", path)
    by_copy = run(news, path, skip_invalid=True)
    assert any(c.startswith('COPY "subscriber"') for c in copies)
    assert any(c.startswith('COPY "consent_event"') for c in copies)
    wipe(news)
    copies.clear()
    monkeypatch.setattr(Bulk, "use_copy", False)
    by_insert = run(news, path, skip_invalid=True)
    assert copies == []
    assert by_copy == by_insert
    messages, rows = by_copy
    assert [r[:5] for r in rows if "@" in str(r[0])] == [
        ("anna.mueller@example.org", "Anna Müller", "de", {}, "unconfirmed"),
        ("wang.wei@example.net", "王伟\n(second line of a quoted name)", "zh", {}, "unconfirmed"),
    ]
    assert (
        f"{path}:3: invalid address 'not-an-address': An email address must have an @-sign."
        in messages
    )


def test_a_bad_row_after_copied_batches_leaves_nothing(
    news: Database, tmp_path: Path, copies: list[str]
) -> None:
    path = tmp_path / "late.csv"
    good = [f"reader{i}@example.org,Reader {i},de," for i in range(7)]
    path.write_text("email,name,language,attributes\n" + "\n".join(good) + "\nlate@,Late,de,\n")
    messages, rows = run(news, path)
    assert len(copies) >= 6  # three batches were copied before the bad row was read
    assert messages == [
        f"{path}:9: invalid address 'late@': There must be something after the @-sign."
    ]
    assert rows == []
    with news.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() == 0
