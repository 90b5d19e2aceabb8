"""The connection pools of one run: the run's transport, and a relay per routed destination.

A destination with ``relay_host`` (:mod:`newsletter.destinationconfig`) is sent through its own
:class:`~newsletter.campaigns.connections.Connections` pool over its own transport; every other
message goes through the run's. The dispatcher sees them as one: the pools share the wake-up
event and the stop events, and what they hold, their marks and their outcomes are summed and
gathered here, so the dispatcher's rule (``Dispatcher.check``) counts all of them.
"""

from __future__ import annotations

import threading

from newsletter.campaigns.connections import Connections, Mark
from newsletter.campaigns.ledger import Job
from newsletter.campaigns.outcomes import Result
from newsletter.transports import Transport

MAIN: str | None = None  # the route of the run's own transport


class Routes:
    """One :class:`Connections` per route, driven through one interface."""

    def __init__(
        self,
        transports: dict[str | None, Transport],
        *,
        stop: threading.Event,
        closing: threading.Event,
        extra: int,
        batch: int,
    ):
        """``extra``: ready messages beyond one per connection before a pool wakes us."""
        self.wake = threading.Event()
        self.pools: dict[str | None, Connections] = {
            route: Connections(
                t,
                stop=stop,
                closing=closing,
                low_water=t.connections + extra,
                batch=batch,
                wake=self.wake,
            )
            for route, t in transports.items()
        }
        self.main = self.pools[MAIN]
        self.count = sum(p.count for p in self.pools.values())

    def start(self) -> None:
        for pool in self.pools.values():
            pool.start()

    @property
    def held(self) -> int:
        return sum(p.held for p in self.pools.values())

    @property
    def handed(self) -> int:
        return sum(p.handed for p in self.pools.values())

    @property
    def returned(self) -> int:
        return sum(p.returned for p in self.pools.values())

    @property
    def most(self) -> int:
        """Connections open at once, at most, over every pool: each pool and its spares."""
        return sum(p.most for p in self.pools.values())

    def watch(self) -> list[Job]:
        """Every pool's stalled messages (:meth:`Connections.watch`); spares open per pool."""
        return [job for pool in self.pools.values() for job in pool.watch()]

    @property
    def marks(self) -> bool:
        return any(p.marks for p in self.pools.values())

    def room(self, route: str | None, depth_extra: int) -> bool:
        """Whether ``route``'s ready queue takes another message (two per connection + extra)."""
        pool = self.pools[route]
        return pool.waiting() < 2 * pool.count + depth_extra

    def put(self, job: Job, route: str | None = MAIN) -> None:
        self.pools[route].put(job)

    def waiting(self) -> int:
        return sum(p.waiting() for p in self.pools.values())

    def take_results(self) -> list[Result]:
        self.wake.clear()  # before taking: an outcome appended after this wakes us again
        out: list[Result] = []
        for pool in self.pools.values():
            out += pool.take_results(clear=False)
        return out

    def take_unsent(self) -> list[Job]:
        return [job for pool in self.pools.values() for job in pool.take_unsent()]

    def take_marks(self) -> list[Mark]:
        return [m for pool in self.pools.values() for m in pool.take_marks()]

    def refuse_marks(self) -> None:
        for pool in self.pools.values():
            pool.refuse_marks()

    def end(self) -> None:
        for pool in self.pools.values():
            pool.end()
