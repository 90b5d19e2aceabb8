"""Import a subscriber file: validate every row, apply in batches, all or nothing.

The whole import is one transaction. Rows are validated and applied in
batches of a few thousand (a few ``IN (…)`` look-ups and ``executemany``
inserts per batch), so memory stays flat whatever the file size. When a row
is invalid the import still runs to the end, to report *every* problem with
its line, and then rolls back (unless ``skip_invalid``). A dry run is a real
run that is rolled back, so it can never disagree with what an import does.

Never resubscribed: an address on the suppression list, or one that
unsubscribed from the target list, is skipped and counted, whatever the file
says. Files saying someone unsubscribed or bounced are honoured.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from newsletter import languages
from newsletter.db import database_of
from newsletter.errors import Problem
from newsletter.subscribers import audit
from newsletter.subscribers.errors import ImportError_, SubscriberError
from newsletter.subscribers.import_apply import Applier
from newsletter.subscribers.import_rows import WORKER_THRESHOLD_BYTES, ReadOptions, batches
from newsletter.subscribers.importers import detect_format
from newsletter.subscribers.importers.jsonfile import open_table
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.people import consent_note_or_none, require_consent_note
from newsletter.subscribers.tables import Status

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did (or, for a dry run or a rejected file, would do)."""

    file: str
    format: str = ""
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressions_added: int = 0
    role_addresses: int = 0
    rejected: list[Problem] = field(default_factory=list)
    merged: list[Problem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    extra_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False


def import_file(
    session: Session,
    path: str | Path,
    *,
    list_slug: str | None = None,
    status: Status | str = Status.UNCONFIRMED,
    consent_note: str | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    check_deliverability: bool = False,
    actor: str | None = None,
    progress: Progress | None = None,
    batch_size: int = 5000,
    parallel: bool | None = None,
) -> ImportReport:
    """Import ``path`` into ``list_slug`` (or the lists named in its ``list`` column).

    ``status`` applies to rows whose file gives none; a confirmed row needs
    ``consent_note``, which goes into the consent log. On rejection or dry
    run the session is rolled back; otherwise the caller commits.
    ``parallel`` (default: for files over 4 MB on a multi-core machine)
    reads and validates in a second process.
    """
    status = Status(status)
    if status == Status.UNSUBSCRIBED:
        raise SubscriberError("--status must be unconfirmed or confirmed", field="status")
    consent_note = consent_note_or_none(consent_note)
    require_consent_note(status, consent_note)
    target = get_list(session, list_slug) if list_slug else None
    src = open_table(path)
    try:
        fmt = detect_format(src.columns)
        if fmt is None:
            raise ImportError_(
                [
                    Problem(
                        "no email column; expected our export (email,name,…), a Mailchimp "
                        'export ("Email Address",…) or a listmonk export (email,name,attributes)',
                        file=str(src.path),
                        line=1,
                    )
                ]
            )
        if target is None and not fmt.has_list_column(src.columns):
            raise SubscriberError(
                "which list? give --list SLUG (the file has no list column)", field="list"
            )
    except BaseException:
        src.close()
        raise
    report = ImportReport(
        str(src.path),
        format=fmt.title,
        encoding=src.encoding,
        delimiter=src.delimiter,
        extra_columns=fmt.extra_columns(src.columns),
        dry_run=dry_run,
    )
    options = ReadOptions(
        path=str(src.path),
        target=target.slug if target else None,
        default_status=status.value,
        has_consent=bool(consent_note),
        secret=database_of(session).secret,
        check_deliverability=check_deliverability,
        batch_size=batch_size,
        theme_dir=str(theme) if (theme := languages.theme_dir()) else None,
    )
    if parallel is None:
        parallel = src.size > WORKER_THRESHOLD_BYTES and (os.cpu_count() or 1) > 1
    consent = f"consent: {consent_note}" if consent_note else None
    applier = Applier(session, str(src.path), consent, actor or audit.default_actor())
    with _bigger_cache(session), _no_gc():
        for batch in batches(options, src, parallel=parallel):
            report.rows += batch.rows
            report.rejected.extend(batch.problems)
            report.merged.extend(batch.merged)
            report.variants.update(batch.variants)
            applier.apply(batch.items)
            if progress:
                progress(batch.bytes_read, src.size)
    counts = applier.counts
    report.new, report.updated, report.unchanged = counts.new, counts.updated, counts.unchanged
    report.suppressions_added, report.role_addresses = (
        counts.suppressions_added,
        counts.role_addresses,
    )
    report.skipped = counts.skipped
    report.rejected.extend(applier.problems)
    report.rejected.sort(key=lambda p: p.line or 0)
    if dry_run or (report.rejected and not skip_invalid):
        session.rollback()
    else:
        report.applied = True
    return report


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause cyclic GC: a million short-lived rows would trigger thousands of
    collections, each walking every live object, for no garbage at all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _bigger_cache:
    """A 64 MB SQLite page cache while importing: index pages stay in memory."""

    def __init__(self, session: Session):
        conn = session.connection()
        self.conn = conn if conn.dialect.name == "sqlite" else None

    def __enter__(self) -> None:
        if self.conn is not None:
            self.old = self.conn.exec_driver_sql("PRAGMA cache_size").scalar()
            self.conn.exec_driver_sql("PRAGMA cache_size=-65536")

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.exec_driver_sql(f"PRAGMA cache_size={int(self.old)}")  # type: ignore[arg-type]
