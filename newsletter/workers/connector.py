"""procrastinate's connector, made to wait out a lost database instead of stopping the worker.

A PostgreSQL restart breaks every connection a worker holds at once. procrastinate's own
connector lets the error through: the heartbeat, the job fetch or the LISTEN reconnect fails,
and a failed side task stops the whole worker, while its batches, which wait out the outage
themselves (:func:`newsletter.db.locks.retry_locked`), are still sending. Here a query that
found its connection broken, or none to be had, runs again on a fresh one until the server
answers (up to ``patience`` seconds), and the LISTEN connection is opened again whenever it
breaks, so new jobs are still seen at once rather than at the next poll.

procrastinate's queries are single statements in autocommit: one that failed before the
server ran it is safe to run again. One whose commit went through unseen (the server went
down between its commit and its reply) would, for a job fetch, leave that job held by this
live worker until the worker stops: a window of microseconds, not worth more here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import procrastinate
import psycopg
from procrastinate import exceptions

T = TypeVar("T")
_MAX_DELAY = 2.0  # seconds between attempts, at most


def lost(exc: BaseException) -> bool:
    """Whether a procrastinate error is a broken or refused connection (worth waiting out)."""
    cause = exc.__cause__
    return isinstance(exc, exceptions.ConnectorException) and isinstance(
        cause, psycopg.OperationalError | psycopg.InterfaceError
    )


class ReconnectingConnector(procrastinate.PsycopgConnector):
    """A :class:`procrastinate.PsycopgConnector` that waits out a lost database."""

    def __init__(self, *, patience: float, on_event: Callable[[str], None], **kwargs: Any):
        super().__init__(**kwargs)
        self.patience = patience
        self.on_event = on_event
        self.down = False  # said "lost", not yet "back"

    def _lost(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            reason = " ".join(str(exc.__cause__ or exc).split())[:200]
            self.on_event(f"database connection lost ({reason}); waiting for it to come back")

    def _back(self) -> None:
        if self.down:
            self.down = False
            self.on_event("database connection back")

    async def _again(self, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        started, delay = time.monotonic(), 0.1
        while True:
            try:
                result = await call(*args, **kwargs)
            except exceptions.ConnectorException as exc:
                if not lost(exc) or time.monotonic() - started > self.patience:
                    raise
                self._lost(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)
                continue
            self._back()
            return result

    async def execute_query_async(self, query: Any, **arguments: Any) -> None:
        await self._again(super().execute_query_async, query, **arguments)

    async def execute_query_one_async(self, query: Any, **arguments: Any) -> Any:
        return await self._again(super().execute_query_one_async, query, **arguments)

    async def execute_query_all_async(self, query: Any, **arguments: Any) -> Any:
        return await self._again(super().execute_query_all_async, query, **arguments)

    async def listen_notify(self, on_notification: Any, channels: Iterable[str]) -> None:
        """LISTEN until cancelled, opening the connection again after every loss."""
        channels = list(channels)
        while True:
            try:
                await super().listen_notify(on_notification, channels)
            except exceptions.ConnectorException as exc:
                if not lost(exc):
                    raise
                self._lost(exc)
                await asyncio.sleep(_MAX_DELAY)
