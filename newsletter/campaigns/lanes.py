"""One run's per-destination limits: how many messages to a provider at once, how fast, how.

The dispatcher (:mod:`newsletter.campaigns.dispatch`) owns all of this; no other thread
touches it. Two counts per destination hold the limits:

- ``claimed``: claimed and not yet recorded. The ledger claims no more of a destination than
  :meth:`Lanes.room` allows (two per connection, one when it is rate-limited), so a slow
  destination never fills the run's claim window and the others keep being claimed.
- ``on_line``: handed to the connections and not yet taken back (ready, on the wire, or its
  outcome waiting). The dispatcher hands a job out only while its destination has fewer than
  its ``connections`` there and its rate allows: that is what the provider sees at once.

The rule, asserted by :meth:`Lanes.check` with the dispatcher's own: every job on a line is
claimed (``on_line[d] <= claimed[d]``), no destination has more on a line than its
``connections``, and the total on the lines is what the connections hold.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import sqlalchemy as sa

from newsletter.campaigns.ledger import Job, Ledger
from newsletter.campaigns.providers import Grouping
from newsletter.campaigns.statements import D
from newsletter.campaigns.tables import Campaign, DeliveryStatus
from newsletter.config import Settings
from newsletter.destinationconfig import DestinationSettings
from newsletter.ratelimit import RateLimiter
from newsletter.transports import Transport


@dataclass(frozen=True)
class Limit:
    """What one destination may have: at once, per time, and the relay it goes through."""

    connections: int
    rate: RateLimiter | None
    relay: str | None  # its route (routes.Routes); None: the run's transport


class Lanes:
    """The destinations of one run and what each has claimed and on the lines."""

    def __init__(
        self,
        settings: Settings,
        slots: int,
        grouping: Grouping | None = None,
        *,
        enabled: bool = True,
    ):
        """``enabled``: False for a worker's batch or a proof, which send as one destination."""
        d = settings.delivery
        self.group = grouping or Grouping(d.destinations, settings.dns.nameserver)
        self.default = d.destination_connections
        self.tables: dict[str, DestinationSettings] = {t.name: t for t in d.destinations}
        self.limits: dict[str, Limit] = {}
        self.claimed: Counter[str] = Counter()
        self.on_line: dict[int, str] = {}  # job id → destination
        self.busy: Counter[str] = Counter()  # on_line, counted by destination
        # Limits matter only if one can be reached: a cap below the run's connections, a
        # rate, or a relay. Otherwise the ledger and the dispatcher take their fast paths.
        self.active = enabled and (
            self.default < slots
            or any(
                (t.connections is not None and t.connections < slots)
                or t.rate_per_second
                or t.rate_per_minute
                or t.relay_host
                for t in d.destinations
            )
        )

    def limit(self, name: str) -> Limit:
        if name not in self.limits:
            t = self.tables.get(name)
            rate = None
            if t is not None and (t.rate_per_second or t.rate_per_minute):
                rate = RateLimiter(t.rate_per_second, t.rate_per_minute)
            connections = self.default if t is None or t.connections is None else t.connections
            relay = name if t is not None and t.relay_host else None
            self.limits[name] = Limit(connections, rate, relay)
        return self.limits[name]

    def room(self, name: str) -> int:
        """How many more messages to ``name`` may be claimed now."""
        limit = self.limit(name)
        most = 1 if limit.rate is not None else 2 * limit.connections
        return most - self.claimed[name]

    def wait(self, name: str, now: float) -> float:
        """Seconds until a message to ``name`` may go on a line; 0 when it may now."""
        limit = self.limit(name)
        if self.busy[name] >= limit.connections:
            return float("inf")  # until one of its messages comes back
        return limit.rate.delay(now) if limit.rate is not None else 0.0

    def pick(
        self, claimed: deque[Job], has_room: Callable[[str | None], bool], now: float
    ) -> tuple[int | None, str, str | None, float]:
        """The first claimed job whose destination may have one more on a line now.

        Returns its index with its destination and route (``has_room``: that route's ready
        queue takes one), or None and how long until a rate allows one (0: until a message
        comes back from a busy destination or a line).
        """
        if not self.active:
            if not has_room(None) or not claimed:
                return None, "", None, 0.0
            return 0, self.group(claimed[0].address), None, 0.0
        soonest = float("inf")
        for i, job in enumerate(claimed):
            name = self.group(job.address)
            route = self.limit(name).relay
            if not has_room(route):
                continue
            wait = self.wait(name, now)
            if wait <= 0:
                return i, name, route, 0.0
            soonest = min(soonest, wait)
        return None, "", None, 0.0 if soonest == float("inf") else soonest

    # -- the dispatcher's bookkeeping ----------------------------------------------------

    def claim(self, addresses: Iterable[str]) -> None:
        self.claimed.update(self.group(a) for a in addresses)

    def recorded(self, addresses: Iterable[str]) -> None:
        self.claimed.subtract(self.group(a) for a in addresses)

    def handed(self, job_id: int, name: str, now: float) -> None:
        self.on_line[job_id] = name
        self.busy[name] += 1
        rate = self.limit(name).rate
        if rate is not None:
            rate.record(now)

    def returned(self, job_id: int) -> None:
        name = self.on_line.pop(job_id, None)
        if name is not None:
            self.busy[name] -= 1

    def check(self, held: int) -> None:
        """The rule of the module's docstring; ``held``: what the connections hold."""
        assert len(self.on_line) == held, (len(self.on_line), held)
        for name, n in self.busy.items():
            assert 0 <= n <= self.claimed[name], (name, n, self.claimed[name])
            assert not self.active or n <= self.limit(name).connections, (name, n)


def for_run(
    settings: Settings, ledger: Ledger, campaign: Campaign, transport: Transport
) -> tuple[Lanes, dict[str | None, Transport]]:
    """A run's lanes and its transports by route (``MAIN``: the run's own).

    Per destination only for a whole-campaign run: a worker's batch (its ledger says
    ``by_destination = False``) and a proof send as one destination. The MX lookups happen
    here, before the lease is first renewed, so their budget is at most half a lease.
    """
    from newsletter.campaigns.routes import MAIN

    d = settings.delivery
    per_destination = ledger.by_destination and campaign.kind != "proof"
    relays = relay_transports(settings, transport, d.destinations) if per_destination else {}
    transports: dict[str | None, Transport] = {MAIN: transport, **relays}
    slots = sum(t.connections for t in transports.values())
    lanes = Lanes(settings, slots, enabled=per_destination)
    if per_destination:
        if d.mx_lookup_seconds > 0:
            assert campaign.id is not None
            cid = campaign.id
            domains = ledger.transaction(lambda conn: open_domains(conn, cid))
            lanes.group.prepare(domains, min(d.mx_lookup_seconds, d.lease_seconds / 2))
        ledger.group = lanes.group
        if lanes.active:
            ledger.room = lanes.room
    return lanes, transports


def relay_transports(
    settings: Settings, transport: Transport, tables: Iterable[DestinationSettings]
) -> dict[str | None, Transport]:
    """The transport of each destination with a relay of its own: [smtp]'s, another server.

    Its pool has the destination's ``connections`` (the run's pool size when unset), so the
    cap holds on the relay's side too.
    """
    from newsletter.transports.smtp import SmtpTransport

    relays: dict[str | None, Transport] = {}
    for t in tables:
        if not t.relay_host:
            continue
        size = t.connections or transport.connections
        base: SmtpTransport = (
            transport
            if isinstance(transport, SmtpTransport)
            else SmtpTransport.from_settings(settings)
        )
        changes: dict[str, object] = {
            "host": t.relay_host,
            "port": t.relay_port,
            "connections": size,
        }
        if t.relay_security:
            changes["security"] = t.relay_security
        relays[t.name] = replace(base, **changes)  # type: ignore[arg-type,assignment]
    return relays


def open_domains(conn: sa.Connection, campaign_id: int) -> set[str]:
    """The recipient domains of the campaign's deliveries still to send (for the MX lookups)."""
    open_ = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)
    # What follows the first "@", made distinct by the database: a million addresses are a
    # few thousand domains, and reading them all into Python took twice as long. A quoted
    # local part may hold another "@", so Python keeps what follows the last one.
    find = sa.func.strpos if conn.dialect.name == "postgresql" else sa.func.instr
    after = sa.func.lower(sa.func.substr(D.c.address, find(D.c.address, "@") + 1))
    query = (
        sa.select(after)
        .where(D.c.campaign_id == campaign_id, D.c.status.in_(open_), D.c.address.is_not(None))
        .distinct()
    )
    return {d.rpartition("@")[2] for d in conn.execute(query).scalars() if d}
