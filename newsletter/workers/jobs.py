"""procrastinate, as we use it: the task names, and deferring jobs inside our own transaction.

A job says only what to do ("send batch K of campaign C", "start campaign
C"); the delivery log says how far it got. Jobs are deferred on the
connection of the transaction that changes the campaign, so the campaign
and its jobs are committed together or not at all: no campaign marked
sending without the jobs that send it, no job for a campaign that stayed
a draft. procrastinate is imported only here, in :mod:`worker` and in
:mod:`connector`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from newsletter.errors import BadInput

if TYPE_CHECKING:
    from procrastinate import manager

SEND_BATCH = "newsletter.send_batch"
START_CAMPAIGN = "newsletter.start_campaign"


class NeedsPostgreSQL(BadInput):
    """Workers share campaigns through procrastinate, which needs PostgreSQL."""


def require_postgresql(connection: sa.Connection, what: str) -> None:
    if connection.dialect.name != "postgresql":
        raise NeedsPostgreSQL(
            f"{what} needs PostgreSQL: workers share a campaign through its job queue "
            "(procrastinate). On SQLite, send it with one process: newsletter campaigns send ID"
        )


def conninfo(url: sa.URL) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def _manager() -> manager.JobManager:
    """A job manager that only ever runs on connections handed to it (it opens none)."""
    from procrastinate import SyncPsycopgConnector, manager

    return manager.JobManager(SyncPsycopgConnector())


def batch_lock(campaign_id: int, number: int) -> str:
    """procrastinate runs at most one job holding a lock: one run per batch at a time."""
    return f"newsletter:campaign:{campaign_id}:batch:{number}"


def defer(
    connection: sa.Connection,
    task: str,
    calls: Sequence[dict[str, Any]],
    *,
    queue: str,
    locks: Sequence[str | None] | None = None,
    at: datetime | None = None,
) -> list[int]:
    """Defer one job per entry of ``calls`` in ``connection``'s transaction; their ids."""
    from procrastinate import jobs

    if not calls:
        return []
    todo = [
        jobs.Job(
            id=None,
            queue=queue,
            task_name=task,
            task_kwargs=kwargs,
            lock=locks[i] if locks else None,
            queueing_lock=None,
            scheduled_at=at,
            priority=jobs.DEFAULT_PRIORITY,
        )
        for i, kwargs in enumerate(calls)
    ]
    raw = connection.connection.dbapi_connection
    deferred = _manager().batch_defer_jobs(jobs=todo, connection=raw)
    return [job.id for job in deferred if job.id is not None]


def cancel(connection: sa.Connection, job_id: int) -> None:
    """Cancel a job that has not started, in ``connection``'s transaction."""
    connection.execute(
        sa.text("SELECT procrastinate_cancel_job_v1(:id, false, false)"), {"id": job_id}
    )
