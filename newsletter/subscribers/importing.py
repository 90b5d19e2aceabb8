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

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.db import database_of, hash_with
from newsletter.errors import Problem
from newsletter.models import (
    ConsentEvent,
    MailingList,
    Status,
    Subscriber,
    Subscription,
    Suppression,
    utcnow,
)
from newsletter.subscribers import audit
from newsletter.subscribers.addresses import Address, AddressError, parse_address
from newsletter.subscribers.errors import ImportError_, SubscriberError, UnknownList
from newsletter.subscribers.importers import ParsedRow, RowProblem, detect_format
from newsletter.subscribers.importers.csvfile import CsvFile
from newsletter.subscribers.lists import check_language, get_list
from newsletter.subscribers.people import require_consent_note

SUB = Subscriber.__table__  # type: ignore[attr-defined]
SUBSCRIPTION = Subscription.__table__  # type: ignore[attr-defined]
SUPPRESSION = Suppression.__table__  # type: ignore[attr-defined]
EVENT = ConsentEvent.__table__  # type: ignore[attr-defined]
# Rows already seen in this file, to report "duplicate of line N" in constant memory.
SEEN = sa.Table(
    "newsletter_import_seen",
    sa.MetaData(),
    sa.Column("list_id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("line", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
)

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
    skipped: Counter[str] = field(default_factory=Counter)
    extra_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False


@dataclass(slots=True)
class _Item:
    line: int
    addr: Address
    hash: str
    row: ParsedRow
    list: MailingList | None
    status: Status


@dataclass(slots=True)
class _Person:
    id: int | None
    name: str | None
    language: str | None
    attributes: dict[str, Any]
    new: bool = False
    dirty: list[str] = field(default_factory=list)
    item: _Item | None = None


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
    batch_size: int = 2000,
) -> ImportReport:
    """Import ``path`` into ``list_slug`` (or the lists named in its ``list`` column).

    ``status`` applies to rows whose file gives none; a confirmed row needs
    ``consent_note``, which goes into the consent log. On rejection or dry
    run the session is rolled back; otherwise the caller commits.
    """
    status = Status(status)
    if status == Status.UNSUBSCRIBED:
        raise SubscriberError("--status must be unconfirmed or confirmed", field="status")
    require_consent_note(status, consent_note)
    target = get_list(session, list_slug) if list_slug else None
    with CsvFile(path) as src:
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
        run = _Run(session, src, target, status, consent_note, actor, check_deliverability)
        run.report.format, run.report.dry_run = fmt.title, dry_run
        run.report.extra_columns = fmt.extra_columns(src.columns)
        batch: list[_Item] = []
        for record in src.records():
            if isinstance(record, Problem):
                run.report.rows += 1
                run.report.rejected.append(record)
                continue
            run.report.rows += 1
            try:
                item = run.parse(record.line, fmt.convert(record.values))
            except (RowProblem, AddressError, SubscriberError) as exc:
                run.reject(record.line, str(exc).removeprefix("Error: "))
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                run.apply(batch)
                batch = []
                if progress:
                    progress(src.bytes_read, src.size)
        run.apply(batch)
        if progress:
            progress(src.size, src.size)
        run.finish()
    report = run.report
    report.rejected.sort(key=lambda p: p.line or 0)
    if dry_run or (report.rejected and not skip_invalid):
        session.rollback()
    else:
        report.applied = True
    return report


class _Run:
    def __init__(
        self,
        session: Session,
        src: CsvFile,
        target: MailingList | None,
        status: Status,
        consent_note: str | None,
        actor: str | None,
        check_deliverability: bool,
    ):
        self.session = session
        self.conn = session.connection()
        self.file = str(src.path)
        self.target = target
        self.status = status
        self.consent = f"consent: {consent_note}" if consent_note else None
        self.actor = actor or audit.default_actor()
        self.deliverability = check_deliverability
        self.secret = database_of(session).secret
        self.lists: dict[str, MailingList | None] = {}
        # Addresses this file itself suppresses: their other rows still import.
        self.suppressed_here: set[str] = set()
        self.now = utcnow()
        self.report = ImportReport(self.file, encoding=src.encoding, delimiter=src.delimiter)
        SEEN.drop(self.conn, checkfirst=True)
        SEEN.create(self.conn)

    def reject(self, line: int, message: str) -> None:
        self.report.rejected.append(Problem(message, file=self.file, line=line))

    def _list(self, slug: str) -> MailingList:
        if slug not in self.lists:
            try:
                self.lists[slug] = get_list(self.session, slug)
            except UnknownList:
                self.lists[slug] = None
        found = self.lists[slug]
        if found is None:
            raise RowProblem(f"list: unknown list {slug!r}")
        return found

    def parse(self, line: int, row: ParsedRow) -> _Item:
        addr = parse_address(row.email, check_deliverability=self.deliverability)
        row.language = check_language(row.language)
        ml = self.target or (self._list(row.list_slug) if row.list_slug else None)
        status = row.status or self.status
        needs_person = row.suppress is None or row.keep_person
        if status == Status.CONFIRMED and self.consent is None and needs_person:
            raise RowProblem('status confirmed needs --consent-note "…" (where consent comes from)')
        return _Item(line, addr, hash_with(self.secret, addr.key), row, ml, status)

    def source(self, item: _Item) -> str:
        return f"import:{self.file}:{item.line}"

    def event(self, action: str, item: _Item, list_slug: str | None, detail: str | None) -> dict:
        return {
            "at": self.now,
            "actor": self.actor,
            "action": action,
            "subscriber_id": None,
            "list_slug": list_slug,
            "subject": item.addr.key,
            "subject_hash": item.hash,
            "source": self.source(item),
            "detail": detail,
        }

    def _duplicates(self, items: list[_Item]) -> list[_Item]:
        keys = list({it.addr.key for it in items})
        prior = {
            (list_id, key): line
            for list_id, key, line in self.conn.execute(
                sa.select(SEEN.c.list_id, SEEN.c.key, SEEN.c.line).where(SEEN.c.key.in_(keys))
            )
        }
        fresh, seen_rows = [], []
        for it in items:
            k = (it.list.id if it.list else 0, it.addr.key)
            first = prior.get(k)
            if first is not None:
                self.reject(it.line, f"{it.addr.email}: duplicate of line {first}")
                continue
            prior[k] = it.line
            seen_rows.append({"list_id": k[0], "key": k[1], "line": it.line})
            fresh.append(it)
        if seen_rows:
            self.conn.execute(sa.insert(SEEN), seen_rows)
        return fresh

    def apply(self, items: list[_Item]) -> None:
        if not items:
            return
        items = self._duplicates(items)
        conn, report = self.conn, self.report
        keys = list({it.addr.key for it in items})
        suppressed = dict(
            conn.execute(
                sa.select(SUPPRESSION.c.key_hash, SUPPRESSION.c.reason).where(
                    SUPPRESSION.c.key_hash.in_(list({it.hash for it in items}))
                )
            ).all()
        )
        people = {
            r.key: _Person(r.id, r.name, r.language, dict(r.attributes))
            for r in conn.execute(
                sa.select(SUB.c.id, SUB.c.key, SUB.c.name, SUB.c.language, SUB.c.attributes).where(
                    SUB.c.key.in_(keys)
                )
            )
        }
        ids = [p.id for p in people.values()]
        key_of = {p.id: k for k, p in people.items()}
        memberships: dict[tuple[str, int], str] = {}
        if ids:
            memberships = {
                (key_of[r.subscriber_id], r.list_id): r.status
                for r in conn.execute(
                    sa.select(
                        SUBSCRIPTION.c.subscriber_id,
                        SUBSCRIPTION.c.list_id,
                        SUBSCRIPTION.c.status,
                    ).where(SUBSCRIPTION.c.subscriber_id.in_(ids))
                )
            }
        new_subscriptions: list[tuple[_Item, dict]] = []
        subscription_updates: list[dict] = []
        events: list[tuple[_Item, dict]] = []
        new_suppressions: list[dict] = []
        for it in items:
            reason = suppressed.get(it.hash)
            if reason is not None and it.hash not in self.suppressed_here:
                report.skipped[f"suppressed ({reason})"] += 1
                continue
            row = it.row
            if row.suppress is not None and it.hash not in self.suppressed_here:
                self.suppressed_here.add(it.hash)
                suppressed[it.hash] = row.suppress.value
                new_suppressions.append(
                    {
                        "key_hash": it.hash,
                        "address": it.addr.email,
                        "reason": row.suppress.value,
                        "detail": row.suppress_detail,
                        "source": self.source(it),
                        "created_at": self.now,
                    }
                )
                events.append((it, self.event("suppress", it, None, row.suppress.value)))
                report.suppressions_added += 1
                if not row.keep_person:
                    continue
            person = people.get(it.addr.key)
            changed: list[str] = []
            if person is None:
                person = _Person(None, row.name, row.language, dict(row.attributes), new=True)
                person.item = it
                people[it.addr.key] = person
                outcome = "new"
            else:
                changed = _merge(person, row)
                outcome = "updated" if changed else "unchanged"
            if it.list is not None:
                state = memberships.get((it.addr.key, it.list.id))
                if state == Status.UNSUBSCRIBED and it.status != Status.UNSUBSCRIBED:
                    report.skipped["unsubscribed"] += 1
                    continue
                if state is None:
                    memberships[(it.addr.key, it.list.id)] = it.status.value
                    new_subscriptions.append((it, self._subscription(it)))
                    events.append((it, self._subscription_event(it)))
                    outcome = "new"
                elif _upgrades(state, it.status):
                    subscription_updates.append(self._status_change(person, it))
                    events.append((it, self._subscription_event(it)))
                    outcome = "updated"
            if changed and not person.new:
                events.append((it, self.event("update", it, None, ", ".join(changed))))
            setattr(report, outcome, getattr(report, outcome) + 1)
            if it.addr.is_role:
                report.role_addresses += 1
        self._write(people, new_subscriptions, subscription_updates, events, new_suppressions)

    def _subscription(self, it: _Item) -> dict:
        row, now = it.row, self.now
        confirmed = it.status == Status.CONFIRMED
        unsubscribed = it.status == Status.UNSUBSCRIBED
        return {
            "list_id": it.list.id,  # type: ignore[union-attr]
            "status": it.status.value,
            "source": self.source(it),
            "created_at": row.subscribed_at or now,
            "confirmed_at": (row.confirmed_at or now) if confirmed else row.confirmed_at,
            "unsubscribed_at": (row.unsubscribed_at or now) if unsubscribed else None,
            "updated_at": now,
        }

    def _subscription_event(self, it: _Item) -> dict:
        action = {"confirmed": "confirm", "unconfirmed": "subscribe"}.get(
            it.status.value, "unsubscribe"
        )
        detail = self.consent if it.status == Status.CONFIRMED else None
        return self.event(action, it, it.list.slug if it.list else None, detail)

    def _status_change(self, person: _Person, it: _Item) -> dict:
        confirmed = it.status == Status.CONFIRMED
        return {
            "sid": person.id,
            "lid": it.list.id,  # type: ignore[union-attr]
            "status": it.status.value,
            "confirmed_at": (it.row.confirmed_at or self.now) if confirmed else None,
            "unsubscribed_at": None if confirmed else (it.row.unsubscribed_at or self.now),
            "updated_at": self.now,
        }

    def _write(
        self,
        people: dict[str, _Person],
        new_subscriptions: list[tuple[_Item, dict]],
        subscription_updates: list[dict],
        events: list[tuple[_Item, dict]],
        new_suppressions: list[dict],
    ) -> None:
        conn, now = self.conn, self.now
        fresh = [(k, p) for k, p in people.items() if p.new]
        if fresh:
            conn.execute(
                sa.insert(SUB),
                [
                    {
                        "email": p.item.addr.email,  # type: ignore[union-attr]
                        "key": k,
                        "key_hash": p.item.hash,  # type: ignore[union-attr]
                        "name": p.name,
                        "language": p.language,
                        "attributes": p.attributes,
                        "created_at": p.item.row.created_at or now,  # type: ignore[union-attr]
                        "updated_at": now,
                    }
                    for k, p in fresh
                ],
            )
            ids = dict(
                conn.execute(
                    sa.select(SUB.c.key, SUB.c.id).where(SUB.c.key.in_([k for k, _ in fresh]))
                ).all()
            )
            for k, p in fresh:
                p.id = ids[k]
        changed = [p for p in people.values() if p.dirty and not p.new]
        if changed:
            conn.execute(
                sa.update(SUB)
                .where(SUB.c.id == sa.bindparam("pid"))
                .values(
                    name=sa.bindparam("name"),
                    language=sa.bindparam("language"),
                    attributes=sa.bindparam("attributes", type_=sa.JSON),
                    updated_at=sa.bindparam("updated_at", type_=SUB.c.updated_at.type),
                ),
                [
                    {
                        "pid": p.id,
                        "name": p.name,
                        "language": p.language,
                        "attributes": p.attributes,
                        "updated_at": now,
                    }
                    for p in changed
                ],
            )
        if new_subscriptions:
            conn.execute(
                sa.insert(SUBSCRIPTION),
                [
                    {**values, "subscriber_id": people[it.addr.key].id}
                    for it, values in new_subscriptions
                ],
            )
        if subscription_updates:
            conn.execute(
                sa.update(SUBSCRIPTION)
                .where(
                    SUBSCRIPTION.c.subscriber_id == sa.bindparam("sid"),
                    SUBSCRIPTION.c.list_id == sa.bindparam("lid"),
                )
                .values(
                    status=sa.bindparam("status"),
                    confirmed_at=sa.bindparam("confirmed_at", type_=SUB.c.updated_at.type),
                    unsubscribed_at=sa.bindparam("unsubscribed_at", type_=SUB.c.updated_at.type),
                    updated_at=sa.bindparam("updated_at", type_=SUB.c.updated_at.type),
                ),
                subscription_updates,
            )
        if new_suppressions:
            conn.execute(sa.insert(SUPPRESSION), new_suppressions)
        if events:
            for it, values in events:
                person = people.get(it.addr.key)
                values["subscriber_id"] = person.id if person else None
            conn.execute(sa.insert(EVENT), [values for _, values in events])

    def finish(self) -> None:
        SEEN.drop(self.conn, checkfirst=True)


def _merge(person: _Person, row: ParsedRow) -> list[str]:
    """Fill in what the file knows; empty cells never erase what we have.

    Returns the fields this row changed.
    """
    changed = []
    if row.name and row.name != person.name:
        person.name = row.name
        changed.append("name")
    if row.language and row.language != person.language:
        person.language = row.language
        changed.append("language")
    if row.attributes:
        merged = {**person.attributes, **row.attributes}
        if merged != person.attributes:
            person.attributes = merged
            changed.append("attributes")
    person.dirty.extend(changed)
    return changed


def _upgrades(state: str, wanted: Status) -> bool:
    """Only ever confirm an unconfirmed subscription, or honour an unsubscription."""
    if wanted == Status.UNSUBSCRIBED:
        return state != Status.UNSUBSCRIBED
    return wanted == Status.CONFIRMED and state == Status.UNCONFIRMED
