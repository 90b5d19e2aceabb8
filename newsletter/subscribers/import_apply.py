"""The writing half of an import: classify each valid row and write batches.

Per batch: three ``IN (…)`` look-ups (suppressions, subscribers, their
subscriptions), a pass in Python deciding new / updated / unchanged /
skipped, then one ``executemany`` per table. The rules that protect people
live in :meth:`Applier.apply`: suppressed addresses and unsubscriptions are
never overridden by a file, and a confirmed subscription is never downgraded.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from newsletter.db.columns import utcnow
from newsletter.errors import Problem
from newsletter.subscribers.bulk import Bulk
from newsletter.subscribers.errors import UnknownList
from newsletter.subscribers.import_rows import Item
from newsletter.subscribers.lists import get_list

SUBSCRIBER_COLUMNS = (
    "id", "email", "key", "key_hash", "name", "language", "attributes", "created_at", "updated_at",
    "timezone",
)  # fmt: skip
SUBSCRIPTION_COLUMNS = (
    "subscriber_id", "list_id", "status", "source", "created_at", "confirmed_at",
    "unsubscribed_at", "updated_at",
)  # fmt: skip
SUPPRESSION_COLUMNS = ("key_hash", "address", "reason", "detail", "source", "created_at")
EVENT_COLUMNS = (
    "at", "actor", "action", "subscriber_id", "list_slug", "subject", "subject_hash", "source",
    "detail",
)  # fmt: skip
_ACTION = {"confirmed": "confirm", "unconfirmed": "subscribe", "unsubscribed": "unsubscribe"}


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressions_added: int = 0
    role_addresses: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Person:
    id: int | None
    name: str | None
    language: str | None
    attributes: dict[str, Any] | None
    """None for a new person: their attributes are still the row's JSON text."""
    timezone: str | None = None
    new: bool = False
    dirty: bool = False
    item: Item | None = None


class Applier:
    def __init__(self, session: Session, file: str, consent: str | None, actor: str):
        self.session = session
        self.bulk = Bulk(session.connection())
        self.file = file
        self.consent = consent
        self.actor = actor
        self.lists: dict[str, tuple[int, str] | None] = {}
        # Addresses this file itself suppresses: their other rows still import.
        self.suppressed_here: set[str] = set()
        self.now = utcnow()
        self.db_now = self.bulk.time(self.now)
        self.counts = Counts()
        self.problems: list[Problem] = []

    def _list_id(self, it: Item) -> int | None:
        slug = it.list_slug
        if slug is None:
            return None
        if slug not in self.lists:
            try:
                ml = get_list(self.session, slug)
                self.lists[slug] = (ml.id, ml.slug)  # type: ignore[assignment]
            except UnknownList:
                self.lists[slug] = None
        found = self.lists[slug]
        if found is None:
            raise KeyError(slug)
        return found[0]

    def _time(self, value: datetime | None, default: Any) -> Any:
        return self.bulk.time(value) if value is not None else default

    def _event(self, action: str, it: Item, list_slug: str | None, detail: str | None) -> list:
        # subscriber_id (index 3) is filled in by _write once ids are known.
        return [
            self.db_now,
            self.actor,
            action,
            None,
            list_slug,
            it.key,
            it.hash,
            f"import:{self.file}:{it.line}",
            detail,
        ]

    def _load(self, items: list[Item]) -> tuple[dict, dict, dict]:
        bulk = self.bulk
        suppressed = dict(
            bulk.select_in(
                "SELECT key_hash, reason FROM suppression WHERE key_hash IN ({})",
                {it.hash for it in items},
            )
        )
        people = {
            key: _Person(pid, name, language, bulk.from_json(attributes), zone)
            for pid, key, name, language, attributes, zone in bulk.select_in(
                "SELECT id, key, name, language, attributes, timezone FROM subscriber "
                "WHERE key IN ({})",
                {it.key for it in items},
            )
        }
        key_of = {p.id: k for k, p in people.items()}
        memberships = {
            (key_of[sid], lid): status
            for sid, lid, status in bulk.select_in(
                "SELECT subscriber_id, list_id, status FROM subscription "
                "WHERE subscriber_id IN ({})",
                key_of,
            )
        }
        return suppressed, people, memberships

    def apply(self, items: list[Item]) -> None:
        """Classify and write one batch of valid, de-duplicated rows."""
        if not items:
            return
        suppressed, people, memberships = self._load(items)
        counts, now, source = self.counts, self.db_now, f"import:{self.file}:"
        subscriptions: list[tuple[Item, list]] = []
        status_changes: list[tuple] = []
        suppressions: list[tuple] = []
        events: list[tuple[Item, list]] = []
        list_ids: dict[str | None, int | None] = {None: None}
        outcomes: Counter[str] = Counter()
        for it in items:
            list_id = list_ids.get(it.list_slug, -1)
            if list_id == -1:
                try:
                    list_id = list_ids[it.list_slug] = self._list_id(it)
                except KeyError:
                    message = f"list: unknown list {it.list_slug!r}"
                    self.problems.append(Problem(message, file=self.file, line=it.line))
                    continue
            reason = suppressed.get(it.hash)
            if reason is not None and it.hash not in self.suppressed_here:
                counts.skipped[f"suppressed ({reason})"] += 1
                continue
            if it.suppress is not None and it.hash not in self.suppressed_here:
                self.suppressed_here.add(it.hash)
                suppressions.append(
                    (it.hash, it.email, it.suppress, it.suppress_detail, source + str(it.line), now)
                )
                events.append((it, self._event("suppress", it, None, it.suppress)))
                counts.suppressions_added += 1
                if not it.keep_person:
                    continue
            state = memberships.get((it.key, list_id)) if list_id is not None else None
            if state == "unsubscribed" and it.status != "unsubscribed":
                # Skipped entirely: not even their name is updated from the file.
                counts.skipped["unsubscribed from the list"] += 1
                continue
            person = people.get(it.key)
            changed: list[str] = []
            if person is None:
                person = _Person(None, it.name, it.language, None, it.timezone, new=True, item=it)
                people[it.key] = person
                outcome = "new"
            else:
                changed = _merge(person, it)
                outcome = "updated" if changed else "unchanged"
            if list_id is not None and (state is None or _upgrades(state, it.status)):
                memberships[(it.key, list_id)] = it.status
                event = self._event(_ACTION[it.status], it, it.list_slug, None)
                if it.status != "unsubscribed":
                    notes = [n for n in (self.consent, it.consent_detail) if n]
                    event[-1] = "; ".join(notes) or None
                if it.consent_detail and it.confirmed_at is not None:
                    event[0] = self.bulk.time(it.confirmed_at)  # when the consent was given
                events.append((it, event))
                if state is None:
                    subscriptions.append((it, self._subscription(it, list_id)))
                    outcome = "new"
                else:
                    status_changes.append(self._status_change(person, it, list_id))
                    outcome = "updated"
            if changed and not person.new:
                events.append((it, self._event("update", it, None, ", ".join(changed))))
            outcomes[outcome] += 1
            if it.role:
                counts.role_addresses += 1
        counts.new += outcomes["new"]
        counts.updated += outcomes["updated"]
        counts.unchanged += outcomes["unchanged"]
        self._write(people, subscriptions, status_changes, suppressions, events)

    def _subscription(self, it: Item, list_id: int) -> list:
        now, status = self.db_now, it.status
        return [
            None,  # subscriber_id, known after the subscriber insert
            list_id,
            status,
            f"import:{self.file}:{it.line}",
            self._time(it.subscribed_at, now),
            self._time(it.confirmed_at, now if status == "confirmed" else None),
            self._time(it.unsubscribed_at, now) if status == "unsubscribed" else None,
            now,
        ]

    def _status_change(self, person: _Person, it: Item, list_id: int) -> tuple:
        if it.status == "confirmed":
            times = (self._time(it.confirmed_at, self.db_now), None)
        else:
            times = (None, self._time(it.unsubscribed_at, self.db_now))
        return (it.status, *times, self.db_now, person.id, list_id)

    def _write(
        self,
        people: dict[str, _Person],
        subscriptions: list[tuple[Item, list]],
        status_changes: list[tuple],
        suppressions: list[tuple],
        events: list[tuple[Item, list]],
    ) -> None:
        bulk, now = self.bulk, self.db_now
        fresh = [(k, p) for k, p in people.items() if p.new and p.id is None]
        for (_, p), new_id in zip(fresh, bulk.new_ids("subscriber", len(fresh)), strict=True):
            p.id = new_id
        rows = []
        for k, p in fresh:
            it = p.item
            assert it is not None
            rows.append(
                (
                    p.id,
                    it.email,
                    k,
                    it.hash,
                    p.name,
                    p.language,
                    it.attributes_json if p.attributes is None else json.dumps(p.attributes),
                    self._time(it.created_at, now),
                    now,
                    p.timezone,
                )
            )
        bulk.insert("subscriber", SUBSCRIBER_COLUMNS, rows)
        bulk.execute_many(
            "UPDATE subscriber SET name = ?, language = ?, attributes = ?, updated_at = ?, "
            "timezone = ? WHERE id = ?",
            [
                (p.name, p.language, json.dumps(p.attributes), now, p.timezone, p.id)
                for p in people.values()
                if p.dirty and not p.new
            ],
        )
        for it, values in subscriptions:
            values[0] = people[it.key].id
        bulk.insert("subscription", SUBSCRIPTION_COLUMNS, [tuple(v) for _, v in subscriptions])
        bulk.execute_many(
            "UPDATE subscription SET status = ?, confirmed_at = ?, unsubscribed_at = ?, "
            "updated_at = ? WHERE subscriber_id = ? AND list_id = ?",
            status_changes,
        )
        bulk.insert("suppression", SUPPRESSION_COLUMNS, suppressions)
        for it, values in events:
            person = people.get(it.key)
            values[3] = person.id if person else None
        bulk.insert("consent_event", EVENT_COLUMNS, [tuple(v) for _, v in events])


def _merge(person: _Person, it: Item) -> list[str]:
    """Fill in what the file knows; empty cells never erase what we have.

    Returns the fields this row changed.
    """
    changed = []
    if it.name and it.name != person.name:
        person.name = it.name
        changed.append("name")
    if it.language and it.language != person.language:
        person.language = it.language
        changed.append("language")
    if it.timezone and it.timezone != person.timezone:
        person.timezone = it.timezone
        changed.append("timezone")
    if it.attributes_json != "{}":
        if person.attributes is None:  # a person created earlier in this batch
            assert person.item is not None
            person.attributes = json.loads(person.item.attributes_json)
        merged = {**person.attributes, **json.loads(it.attributes_json)}
        if merged != person.attributes:
            person.attributes = merged
            changed.append("attributes")
    if changed:
        person.dirty = True
    return changed


def _upgrades(state: str, wanted: str) -> bool:
    """Only ever confirm an unconfirmed subscription, or honour an unsubscription."""
    if wanted == "unsubscribed":
        return state != "unsubscribed"
    return wanted == "confirmed" and state == "unconfirmed"
