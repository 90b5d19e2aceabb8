"""``inbound process``: read sources, classify, attribute, apply the policy, move what was ours.

Crash-safe and idempotent in this order: a batch's decisions are committed
first, and only then are its messages moved. A crash in between leaves
messages in place whose content hash the database already knows; the next
run sees them as duplicates and just moves them. A message that raises
while being read is left where it is and reported, never half-processed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlmodel import select

from newsletter.campaigns.tables import Delivery
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.inbound.attribute import attribute
from newsletter.inbound.classify import Classification, Context, classify
from newsletter.inbound.policy import record
from newsletter.inbound.sources import Item, Source
from newsletter.inbound.tables import Bounce, Kind
from newsletter.message.compose import sender_domain
from newsletter.tokens import token_key

BATCH = 250


@dataclass
class ProcessReport:
    """What a run did; ``kinds`` counts the messages recorded, by kind."""

    seen: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    not_ours: int = 0
    moved: int = 0
    errors: list[str] = field(default_factory=list)


def context_for(db: Database, settings: Settings) -> Context:
    domain = sender_domain(settings)
    verp = (settings.delivery.bounce_domain or domain).lower()
    return Context(token_key(db.secret), domain, verp if verp != domain else None)


def _batches(items: Iterable[Item]) -> Iterable[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def process_source(
    db: Database,
    settings: Settings,
    source: Source,
    report: ProcessReport | None = None,
    *,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ProcessReport:
    """Process every message of ``source`` once; see the module docstring for the order."""
    report = report or ProcessReport()
    ctx = context_for(db, settings)
    total = source.count()
    for batch in _batches(source):
        classified: list[tuple[Item, Classification]] = []
        for item in batch:
            report.seen += 1
            try:
                classified.append((item, classify(item.raw, ctx)))
            except Exception as exc:  # a message we cannot read is left alone
                report.errors.append(f"{source.name} {item.ref}: cannot read: {exc!r}")
        ours: list[Item] = []
        with db.session() as s:
            hashes = {c.content_hash for _, c in classified}
            mids = {c.message_id for _, c in classified if c.message_id}
            known = set(s.exec(select(Bounce.content_hash).where(Bounce.content_hash.in_(hashes))))  # type: ignore[attr-defined]
            # A copy of a processed message whose trace headers differ: same Message-ID
            # about the same delivery. A Message-ID alone is not trusted (some MTAs reuse them).
            known_mids = set(
                s.exec(
                    select(Bounce.message_id, Bounce.delivery_id, Bounce.address).where(
                        Bounce.message_id.in_(mids)  # type: ignore[union-attr]
                    )
                )
            )
            # One query for the batch's deliveries; attribute() then finds them in the session.
            wanted = {d for _, c in classified for d in c.evidence.verp_deliveries}
            wanted |= {d for _, c in classified for _, d in c.evidence.message_ids}
            loaded = s.exec(select(Delivery).where(Delivery.id.in_(wanted))).all()  # type: ignore[union-attr]
            for item, c in classified:
                if c.content_hash in known:
                    report.duplicates += 1
                    ours.append(item)
                    continue
                target = attribute(s, c) if c.kind != Kind.UNRELATED else None
                if target is None:
                    report.not_ours += 1
                    continue
                seen_as = (c.message_id, target.delivery_id, target.address)
                if c.message_id and seen_as in known_mids:
                    report.duplicates += 1
                    ours.append(item)
                    continue
                row = record(s, c, target, item.raw, source.name, settings.inbound)
                report.kinds[row.kind] += 1
                report.decisions[row.decision] += 1
                known.add(c.content_hash)
                known_mids.add(seen_as)
                ours.append(item)
            del loaded
        report.moved += source.done(ours)
        if on_progress:
            on_progress(report.seen, total)
    return report


def process_sources(
    db: Database,
    settings: Settings,
    sources: Iterable[Source],
    *,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ProcessReport:
    """Process several sources into one report, closing each when done."""
    report = ProcessReport()
    for source in sources:
        try:
            process_source(db, settings, source, report, on_progress=on_progress)
        finally:
            source.close()
    return report
