"""Unsubscribes by token, applied by one thread that commits all waiting ones together.

RFC 8058 one-click posts arrive in bursts (a mailbox provider forwards its
users' clicks as they come), and each is a small transaction: a few rows,
then a commit. Run one by one, the commit, the session around it and the
hop to a worker thread cost more than the rows. So the route verifies the
token on the event loop (constant time, no database) and hands the ids to
:class:`GroupCommit`, whose one thread takes everything waiting, applies it
in one transaction and commits once; the next batch gathers meanwhile.

Invariants (asserted in :meth:`GroupCommit._apply` and :func:`_answer`):

* every unsubscribe handed in gets exactly one answer, and it is its own:
  the ``Left`` of its own rows, ``TokenError`` when its subscriber is not on
  its list, or :class:`UnsubscribeFailed`;
* a ``Left`` is answered only after the transaction holding its rows has
  committed (durable as any commit of the database: WAL with
  ``synchronous=NORMAL`` on SQLite, ``synchronous_commit`` on PostgreSQL);
  when the transaction or its commit fails, nothing of the batch was
  written and every request in it gets :class:`UnsubscribeFailed` (a 500);
* one ``TokenError`` does not fail its batch: it is raised before the
  unsubscribe writes anything (:func:`~newsletter.subscribers.optout.unsubscribe_by_ids`).

Exactly once still holds inside a batch: the same token twice (a double
click) finds the first one's change in the same transaction and changes
nothing. Rows are taken in id order, so two batches, or a batch and
another transaction locking several subscribers, wait for each other on
PostgreSQL instead of deadlocking. On SQLite the batch takes the process's
turn (:func:`~newsletter.web.context.turn_for`) like every other
transaction of the server, then SQLite's write lock, asking for it every
millisecond (:func:`_begin_immediate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from newsletter.db import Database
from newsletter.db.locks import BUSY_TIMEOUT_MS
from newsletter.subscribers.optout import Left, unsubscribe_by_ids
from newsletter.tokens import TokenError, ids, token_key

log = logging.getLogger("newsletter.web")
BATCH_MAX = 100  # unsubscribes per transaction: bounds how long the turn is held
RETRY_SECONDS = 0.001  # between two asks for SQLite's write lock


class UnsubscribeFailed(Exception):
    """The transaction that held this unsubscribe failed; nothing of it was written."""


@dataclass(eq=False)
class _Waiting:
    subscriber_id: int
    list_id: int
    source: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Left]
    answered: bool = field(default=False)


class GroupCommit:
    """The one writer thread behind ``POST /unsubscribe/<token>`` (one-click and the page)."""

    def __init__(
        self,
        db: Database,
        turn: contextlib.AbstractContextManager[Any] | None = None,
        *,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self.db = db
        self.turn = turn if turn is not None else contextlib.nullcontext()
        self.batch_max = batch_max
        self._key = token_key(db.secret)
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def unsubscribe(self, token: str, *, source: str) -> Left:
        """Unsubscribe the token's holder from its list; returns once that is committed.

        ``TokenError`` for a token that is not genuine (checked here, before
        any queue) or whose subscriber is not on the list;
        :class:`UnsubscribeFailed` when the batch's transaction failed.
        """
        subscriber_id, list_id = ids(self._key, "unsubscribe", token, 2)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(subscriber_id, list_id, source, loop, loop.create_future())
        self.start()
        self._queue.put(waiting)
        return await waiting.future

    def start(self) -> None:
        """Start the writer thread (idempotent; the first unsubscribe starts it too)."""
        with self._starting:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="newsletter-unsubscribes", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Apply what is waiting, then end the thread."""
        with self._starting:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self.batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._apply(batch)
            if stopping:
                return

    def _apply(self, batch: list[_Waiting]) -> None:
        answers: list[Left | Exception]
        try:
            answers = self._write(batch)
        except Exception as exc:
            log.error("%d unsubscribes not written: their transaction failed", len(batch),
                      exc_info=exc)  # fmt: skip
            answers = [UnsubscribeFailed() for _ in batch]
        assert len(answers) == len(batch), "one answer per unsubscribe"
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Waiting, Left | Exception]]] = {}
        for waiting, answer in zip(batch, answers, strict=True):
            by_loop.setdefault(waiting.loop, []).append((waiting, answer))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(_answer, pairs)

    def _write(self, batch: list[_Waiting]) -> list[Left | Exception]:
        """Every unsubscribe of ``batch`` in one transaction; returns after its commit."""
        answers: list[Left | Exception | None] = [None] * len(batch)
        order = sorted(range(len(batch)), key=lambda i: (batch[i].subscriber_id, batch[i].list_id))
        with self.turn, self.db.session() as session:
            conn = session.connection()
            if self.db.is_sqlite:
                _begin_immediate(conn.connection.dbapi_connection)
            for i in order:
                w = batch[i]
                try:
                    answers[i] = unsubscribe_by_ids(
                        conn, w.subscriber_id, w.list_id, source=w.source
                    )
                except TokenError as exc:
                    answers[i] = exc
        # The session committed when its block ended (or raised, and nothing is answered yet).
        assert all(a is not None for a in answers)
        return answers  # type: ignore[return-value]


def _begin_immediate(dbapi: Any) -> None:
    """Begin the transaction with SQLite's write lock, asking every millisecond.

    SQLite's own busy handler sleeps 1, 2, 5 … 100 ms between its tries.
    Behind another process that writes in a loop (``campaigns send``
    commits a batch and begins the next at once) it wakes mostly to find the
    lock taken again, and every one-click waiting in the batch waits with it:
    100 ms a try, a few tries a batch. Asking often finds the gap between
    two of the other process's transactions. Gives up after the same
    ``BUSY_TIMEOUT_MS`` as the busy handler, with the same error.
    """
    cursor = dbapi.cursor()
    cursor.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(RETRY_SECONDS)
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.close()


def _answer(pairs: list[tuple[_Waiting, Left | Exception]]) -> None:
    """On the request's event loop: each waiting request gets its one answer."""
    for waiting, answer in pairs:
        assert not waiting.answered, "an unsubscribe answered twice"
        waiting.answered = True
        if waiting.future.done():  # its request was cancelled (the client left)
            continue
        if isinstance(answer, Exception):
            waiting.future.set_exception(answer)
        else:
            waiting.future.set_result(answer)
