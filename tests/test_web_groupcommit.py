"""One-click unsubscribes committed together (web.groupcommit), against a real uvicorn.

The writer thread is held inside its transaction by a gate around the real
``unsubscribe_by_ids`` (after it wrote its rows, before the commit), so the
requests sent meanwhile are known to wait together and go into one batch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from newsletter.tokens import token_key, unsubscribe_token
from newsletter.web import groupcommit

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class Gate:
    """Stops the writer after the first unsubscribe it writes, until ``open()``; counts batches."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = groupcommit.unsubscribe_by_ids
        self.held = threading.Event()
        self.opened = threading.Event()
        self.batches: list[int] = []
        monkeypatch.setattr(groupcommit, "unsubscribe_by_ids", self._unsubscribe)
        write = groupcommit.GroupCommit._write

        def counted(commit: groupcommit.GroupCommit, batch: list[Any]) -> Any:
            self.batches.append(len(batch))
            return write(commit, batch)

        monkeypatch.setattr(groupcommit.GroupCommit, "_write", counted)

    def _unsubscribe(self, *args: Any, **kwargs: Any) -> Any:
        left = self.real(*args, **kwargs)
        if not self.held.is_set():
            self.held.set()
            assert self.opened.wait(30), "gate never opened"
        return left

    def open(self) -> None:
        self.opened.set()


class Clicks:
    """One-click posts from many threads at once, over one httpx client (a client per
    request would build an SSL context per request, which is slow)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(64)
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=100))

    def post(self, url: str) -> httpx.Response:
        return self.client.post(url, data=ONE_CLICK)

    def submit(self, url: str) -> Future[httpx.Response]:
        return self.pool.submit(self.post, url)


@pytest.fixture
def clicks() -> Iterator[Clicks]:
    c = Clicks()
    yield c
    c.pool.shutdown()
    c.client.close()


def waiting(web: Any) -> int:
    assert web.live is not None
    return web.live.app.state.web.unsubscribes._queue.qsize()


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def unsubscribe_events(web: Any) -> dict[int, int]:
    """Consent log ``unsubscribe`` rows per subscriber, as committed (a connection of its own)."""
    with web.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT subscriber_id, count(*) FROM consent_event "
                "WHERE action = 'unsubscribe' GROUP BY subscriber_id"
            )
        ).all()
    return {sid: n for sid, n in rows}


def statuses(web: Any) -> dict[int, str]:
    with web.db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT subscriber_id, status FROM subscription")).all()
    return {sid: status for sid, status in rows}


def suppressed(web: Any) -> int:
    with web.db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM suppression")).scalar_one()


def test_concurrent_one_clicks_are_answered_after_one_commit_each_counted_once(
    web, monkeypatch, clicks
) -> None:
    web.add(40)
    gate = Gate(monkeypatch)
    web.serve()
    url = f"{web.url}/unsubscribe/"
    first = clicks.submit(url + web.token(1))
    until(gate.held.is_set, "the first unsubscribe never reached the database")
    time.sleep(0.3)
    # Its rows are written, not committed: no answer yet, and nobody else sees them.
    assert not first.done()
    assert unsubscribe_events(web) == {} and statuses(web)[1] == "confirmed"

    not_on_list = unsubscribe_token(token_key(web.db.secret), 5, 999)
    tokens = [web.token(i) for i in range(2, 41)]
    tokens += tokens[:10]  # double clicks, in the same batch as the first click
    tokens.append(not_on_list)
    later: list[Future[httpx.Response]] = [clicks.submit(url + t) for t in tokens]
    until(lambda: waiting(web) == len(tokens), "the requests never all waited")
    assert not any(f.done() for f in later)
    gate.open()

    assert (first.result().status_code, first.result().text) == (200, "unsubscribed\n")
    answers = [(f.result().status_code, f.result().text) for f in later]
    assert answers[:-1] == [(200, "unsubscribed\n")] * (len(tokens) - 1)
    assert answers[-1] == (400, "invalid link\n")
    assert gate.batches == [1, len(tokens)]  # everything that waited: one transaction
    assert unsubscribe_events(web) == {i: 1 for i in range(1, 41)}
    assert set(statuses(web).values()) == {"unsubscribed"}
    assert suppressed(web) == 40


def _poison(web: Any, subscriber_id: int) -> None:
    """A trigger that fails every consent log insert for ``subscriber_id``: a real database
    error in the middle of a batch."""
    with web.db.engine.begin() as conn:
        if web.db.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON consent_event "
                f"WHEN NEW.subscriber_id = {subscriber_id} "
                "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.subscriber_id = {subscriber_id} THEN RAISE EXCEPTION 'poisoned'; "
                "END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON consent_event "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )


def _cure(web: Any) -> None:
    with web.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER poison" if web.db.is_sqlite else "DROP TRIGGER poison ON consent_event"
        )


def test_a_failed_batch_answers_every_request_in_it_with_an_error_and_writes_nothing(
    web, monkeypatch, clicks, caplog
) -> None:
    web.add(4)
    _poison(web, 3)
    gate = Gate(monkeypatch)
    web.serve()
    url = f"{web.url}/unsubscribe/"
    first = clicks.submit(url + web.token(1))
    until(gate.held.is_set, "the first unsubscribe never reached the database")
    batch = [clicks.submit(url + web.token(i)) for i in (2, 3, 4)]
    until(lambda: waiting(web) == 3, "the requests never all waited")
    gate.open()

    assert first.result().status_code == 200
    answers = [f.result() for f in batch]
    assert [r.status_code for r in answers] == [500, 500, 500]
    assert all("unsubscribed" not in r.text for r in answers)
    assert gate.batches == [1, 3]
    assert unsubscribe_events(web) == {1: 1}  # 2 and 4 rolled back with 3
    assert statuses(web) == {1: "unsubscribed", 2: "confirmed", 3: "confirmed", 4: "confirmed"}
    assert suppressed(web) == 1
    assert "3 unsubscribes not written" in caplog.text

    # The writer is still there; the same links work once the database does.
    _cure(web)
    again = [clicks.submit(url + web.token(i)) for i in (2, 3, 4)]
    assert [f.result().status_code for f in again] == [200, 200, 200]
    assert unsubscribe_events(web) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert suppressed(web) == 4


def test_a_forged_token_never_reaches_the_writer(web, monkeypatch, clicks) -> None:
    """Tokens are verified (constant time) before anything waits on the writer."""
    web.add(1)
    gate = Gate(monkeypatch)
    web.serve()
    forged = web.token(1)[:-1] + ("a" if web.token(1)[-1] != "a" else "b")
    r = clicks.post(f"{web.url}/unsubscribe/{forged}")
    assert (r.status_code, r.text) == (400, "invalid link\n")
    assert gate.batches == []
    assert statuses(web) == {1: "confirmed"}


def test_a_one_click_behind_another_writer_waits_and_gets_in_once_the_lock_is_free(
    web, clicks
) -> None:
    """Another process holds SQLite's write lock (``campaigns send`` inside a transaction):
    the writer keeps asking for it (every millisecond, its busy timeout set to 0 meanwhile),
    answers nothing until it has it, and then unsubscribes as usual."""
    if not web.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    web.add(2)
    web.serve()
    late = []
    for i in (1, 2):
        other = sqlite3.connect(web.db.sqlite_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        answer = clicks.submit(f"{web.url}/unsubscribe/{web.token(i)}")
        time.sleep(1.95)
        assert not answer.done()
        other.execute("COMMIT")
        freed = time.monotonic()
        assert answer.result().status_code == 200
        late.append(time.monotonic() - freed)
        other.close()
    assert min(late) < 0.5, late
    assert unsubscribe_events(web) == {1: 1, 2: 1}
