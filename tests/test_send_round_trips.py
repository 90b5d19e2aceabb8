"""On PostgreSQL a send costs about one statement per message (campaigns/onetrip.py).

Each statement is a round trip, and psycopg's work around one is what made the PostgreSQL
sender's CPU per message twice SQLite's: the step was ``BEGIN``, the outcomes, the mark, the
claim and ``COMMIT``. The server's own statement log counts them.
"""

from __future__ import annotations

import re
import time
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
