"""On PostgreSQL a send costs about one statement per message (campaigns/onetrip.py).

Each statement is a round trip, and psycopg's work around one is what made the PostgreSQL
sender's CPU per message twice SQLite's: the step was ``BEGIN``, the outcomes, the mark, the
claim and ``COMMIT``. The server's own statement log counts them.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
from delivery_helpers import World
from smtp_server import RecordingServer

from newsletter.campaigns.sender import run_campaign
from newsletter.transports.smtp import SmtpTransport

MESSAGES = 300
_STATEMENT = re.compile(r"LOG:  (statement|execute [^:]*): ")


def test_a_postgresql_send_is_about_one_statement_per_message(world: World, backend: Any) -> None:
    if world.db.is_sqlite or getattr(backend, "cluster", None) is None:
        pytest.skip("PostgreSQL only: needs the tests' own cluster and its log")
    addresses = world.add(MESSAGES)
    cid = world.campaign()
    name = world.db.engine.url.database
    with backend.admin().connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
    world.db.dispose()  # new connections log their statements
    log = backend.cluster.log
    try:
        with RecordingServer() as srv:
            start = log.stat().st_size
            transport = SmtpTransport("127.0.0.1", srv.port, connections=1, timeout=5.0)
            began = time.monotonic()
            result = run_campaign(world.db, world.settings, cid, transport)
            seconds = time.monotonic() - began
            assert srv.received_by() == {a: 1 for a in addresses}
        time.sleep(0.2)  # the server's last lines
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    finally:
        with backend.admin().connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET log_statement')
    assert result.counts == {"sent": MESSAGES}
    statements = len(_STATEMENT.findall(text))
    # one per message (its outcome, the next one's mark, claims folded in), the run's
    # take and release, and the look at the campaign every 0.1 s: 4 or more per message before
    assert statements <= MESSAGES * 1.2 + 20 * seconds + 40, (statements, seconds)


def test_the_step_runs_as_a_prepared_statement_and_survives_a_killed_connection(
    world: World, backend: Any
) -> None:
    """The step goes through libpq as a prepared statement of its own (onetrip.py): the
    server's log shows it executed by name; a second run on the same pooled connection finds
    it prepared already; and when the server drops the run's connection mid-send, the error
    is the one the ledger reconnects on, so every recipient still gets exactly one copy."""
    if world.db.is_sqlite or getattr(backend, "cluster", None) is None:
        pytest.skip("PostgreSQL only: needs the tests' own cluster and its log")
    first = world.add(MESSAGES, prefix="first")
    cid = world.campaign()
    name = world.db.engine.url.database
    with backend.admin().connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
    world.db.dispose()
    log = backend.cluster.log
    try:
        start = log.stat().st_size
        with RecordingServer() as srv:
            transport = SmtpTransport("127.0.0.1", srv.port, connections=1, timeout=5.0)
            killed: list[int] = []

            def kill_midway() -> None:
                deadline = time.monotonic() + 60
                while len(srv.messages) < MESSAGES // 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
                with backend.admin().connect() as conn:
                    killed.extend(
                        conn.exec_driver_sql(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                        ).scalars()
                    )

            killer = threading.Thread(target=kill_midway)
            killer.start()
            result = run_campaign(world.db, world.settings, cid, transport)
            killer.join()
            assert killed and all(killed), killed
            assert srv.received_by() == {a: 1 for a in first}
            assert result.counts == {"sent": MESSAGES}
            # a second campaign on the same pool: the statements are there already
            second = world.add(20, prefix="second")
            cid2 = world.campaign(again=True)
            before = len(srv.messages)
            result = run_campaign(world.db, world.settings, cid2, transport)
            again = Counter(m.rcpt for m in srv.messages[before:])
            assert again == {a: 1 for a in first + second}
            assert result.counts == {"sent": MESSAGES + 20}
        time.sleep(0.2)
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    finally:
        with backend.admin().connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET log_statement')
    executed = re.findall(r"LOG:  execute (nl_trip_\w+)", text)
    assert len(executed) >= MESSAGES, len(executed)  # about one per message
    # prepared once per connection: the first, the one after the kill; none for the second run
    assert len(re.findall(r"FROM pg_prepared_statements", text)) <= 3


def test_values_libpq_takes_as_text_and_those_it_leaves_to_psycopg() -> None:
    """What the libpq path sends as text is what PostgreSQL reads back as the same value;
    a NUL (libpq would cut the string there) or an unknown type goes through psycopg."""
    from datetime import UTC, datetime

    from newsletter.campaigns.onetrip import _NO_TEXT, _Libpq, _text
    from newsletter.campaigns.tables import DeliveryStatus

    when = datetime(2026, 12, 7, 16, 5, 4, 123456, tzinfo=UTC)
    assert _text(when) == b"2026-12-07T16:05:04.123456+00:00"
    assert _text(DeliveryStatus.SENT) == b"sent"
    assert _text(250) == b"250" and _text(None) is None and _text(True) == b"t"
    assert _text("250 2.0.0 Ok: queued as ä") == "250 2.0.0 Ok: queued as ä".encode()
    assert _text("bad\x00reply") is _NO_TEXT
    assert _text(datetime(2026, 1, 1)) is _NO_TEXT  # naive: psycopg decides, as before
    assert _text(1.5) is _NO_TEXT
    statement = _Libpq("SELECT %(a)s, %(b)s, %(a)s WHERE x LIKE 'y%%'")
    assert statement.sql == b"SELECT $1, $2, $1 WHERE x LIKE 'y%'"
    assert statement.order == ["a", "b"]
    assert statement.name.startswith(b"nl_trip_")
