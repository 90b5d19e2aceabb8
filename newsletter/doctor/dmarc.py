"""DMARC as revised in 2026 (RFC 9989): policy discovery and organisational domains by the DNS
tree walk, without a public suffix list.

The walk asks ``_dmarc.<name>`` for the author domain, then (past eight labels, jumping to the
seven rightmost) for each shorter name up to the top-level domain. The organisational domain is
where a record says ``psd=n``, the name below a record that says ``psd=y``, else the shortest
name that published a record, else the domain itself: the answer a receiver following RFC 9989
gets, so alignment here means what it means at Gmail. Tags that RFC 9989 removed (``pct``,
``rf``, ``ri``) are reported, since receivers now ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.doctor.resolver import Resolver

REMOVED_TAGS = ("pct", "rf", "ri")
POLICIES = ("none", "quarantine", "reject")


class DmarcError(Exception):
    """A record receivers discard (bad syntax, unknown policy)."""


@dataclass(frozen=True)
class Record:
    domain: str  # where it was found
    tags: dict[str, str]

    @property
    def policy(self) -> str:
        return self.tags.get("p", "none")

    @property
    def psd(self) -> str | None:
        return self.tags.get("psd")


def parse(text: str, domain: str) -> Record:
    """Tags of a ``v=DMARC1`` record; ``v`` must come first, ``p`` must be a known policy."""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    tags: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep:
            raise DmarcError(f"_dmarc.{domain}: {part!r} is not a tag=value pair")
        tags[name.strip().lower()] = value.strip()
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        raise DmarcError(f"_dmarc.{domain}: the record must start with v=DMARC1")
    for key in ("p", "sp", "np"):
        if key in tags and tags[key].lower() not in POLICIES:
            raise DmarcError(f"_dmarc.{domain}: {key}={tags[key]} is not none/quarantine/reject")
    return Record(domain, tags)


def lookup(resolver: Resolver, name: str) -> Record | None:
    """The one DMARC record at ``_dmarc.<name>``; none, or more than one, is no record."""
    texts = [t for t in resolver.txt(f"_dmarc.{name}") if t.replace(" ", "").startswith("v=DMARC1")]
    return parse(texts[0], name) if len(texts) == 1 else None


def walk_targets(domain: str) -> list[str]:
    """The names the tree walk asks, author domain first (RFC 9989 §4.10)."""
    labels = domain.lower().rstrip(".").split(".")
    targets = [".".join(labels)]
    if len(labels) >= 8:
        labels = labels[-7:]
        targets.append(".".join(labels))
    else:
        labels = labels[1:]
        if labels:
            targets.append(".".join(labels))
    while len(labels) > 1:
        labels = labels[1:]
        targets.append(".".join(labels))
    return list(dict.fromkeys(targets))


def discover(resolver: Resolver, domain: str) -> Record | None:
    """The record that applies to mail from ``domain``: its own, else the nearest above."""
    for name in walk_targets(domain):
        found = lookup(resolver, name)
        if found is not None:
            return found
    return None


def organisational_domain(resolver: Resolver, domain: str) -> str:
    """Where ``domain``'s organisation begins, as RFC 9989 decides it."""
    targets = walk_targets(domain)
    shortest = None
    for name in targets:
        found = lookup(resolver, name)
        if found is None:
            continue
        if found.psd == "n":
            return name
        if found.psd == "y":
            below = [t for t in targets if t.endswith("." + name)]
            return below[-1] if below else domain
        shortest = name
    return shortest or domain.lower().rstrip(".")


def aligned(resolver: Resolver, a: str, b: str, strict: bool = False) -> bool:
    """Relaxed alignment: same organisational domain; strict: the same name."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if a == b:
        return True
    return not strict and organisational_domain(resolver, a) == organisational_domain(resolver, b)
