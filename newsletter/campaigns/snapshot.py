"""A campaign's recipients written by the database itself: one ``INSERT … SELECT``.

Reading a million subscribers into Python to write them back as deliveries cost
41–300 µs a row (8.3 s for 200,000 on SQLite, 161 s for a million on PostgreSQL:
issue #22). The database does it in one statement, a few µs a row, in the
caller's transaction, so a failed or interrupted snapshot leaves no delivery.

Who is a recipient is the same expression everywhere: the list's
:func:`~newsletter.subscribers.eligibility.mailable` subscriptions, narrowed by a
segment's SQL condition. The one choice made in Python is the edition: which
catalog a language tag falls back to is decided by the catalog files on disk
(:func:`newsletter.languages.resolve`), which SQL cannot see. It is decided once
per distinct language among the subscribers (a handful), and handed to SQL as a
``CASE`` over the tag, so every recipient gets exactly what
:func:`~newsletter.campaigns.editions.add_editions`' ``choose`` says.

Order: deliveries are numbered in subscriber order, as before, so the send order
(by delivery id) is the subscribers' order of sign-up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from newsletter.campaigns.tables import Delivery, DeliveryKind, DeliveryStatus
from newsletter.subscribers.eligibility import SUBSCRIBER, SUBSCRIPTION, mailable

D = Delivery.__table__  # type: ignore[attr-defined]
# PostgreSQL advisory lock (two int4) that orders a snapshot and the deletion of a
# subscriber (migration 0019's trigger takes it exclusively); negative, because the
# relay locks of workers/pacing.py use keys >= 0.
SNAPSHOT_LOCK = (-1853189228, 19)
Choose = Callable[[str | None], str | None]


def edition_of(connection: sa.Connection, choose: Choose, several: bool) -> sa.ColumnElement:
    """The edition column of a recipient as SQL: ``choose(subscriber.language)``.

    ``several``: the campaign has other editions than its primary one. With
    one, ``choose`` answers the same for every tag and no language is read.
    """
    fallback = choose(None)
    constant = sa.literal(fallback, D.c.edition.type)
    if not several:
        return constant
    tags = connection.execute(
        sa.select(SUBSCRIBER.c.language).where(SUBSCRIBER.c.language.is_not(None)).distinct()
    ).scalars()
    differ = {tag: edition for tag in tags if (edition := choose(tag)) != fallback}
    if not differ:
        return constant
    return sa.case(differ, value=SUBSCRIBER.c.language, else_=constant)


def insert_recipients(
    connection: sa.Connection,
    campaign_id: int,
    list_id: int,
    where: sa.ColumnElement[bool] | None,
    edition: sa.ColumnElement,
    now: datetime,
) -> int:
    """Queue one delivery per recipient of ``list_id`` (and ``where``); returns how many.

    The rows are exactly those of :func:`newsletter.subscribers.people.recipients`
    for the same list and condition, in its order (subscriber id).
    """
    query = (
        sa.select(
            sa.literal(DeliveryKind.CAMPAIGN.value, D.c.kind.type),
            sa.literal(campaign_id, D.c.campaign_id.type),
            SUBSCRIBER.c.id,
            SUBSCRIBER.c.email,
            SUBSCRIBER.c.name,
            sa.literal(DeliveryStatus.QUEUED.value, D.c.status.type),
            sa.literal(0, D.c.attempts.type),
            sa.literal(now, D.c.queued_at.type),
            edition,
        )
        .select_from(SUBSCRIBER.join(SUBSCRIPTION, SUBSCRIPTION.c.subscriber_id == SUBSCRIBER.c.id))
        .where(mailable(list_id))
        .order_by(SUBSCRIBER.c.id)
    )
    if where is not None:
        query = query.where(where)
    columns = ["kind", "campaign_id", "subscriber_id", "address", "name", "status", "attempts"]
    statement = sa.insert(D).from_select([*columns, "queued_at", "edition"], query)
    if connection.dialect.name == "postgresql":
        # A million rows sorted by subscriber id fit in memory; the default 4 MB spills to disk.
        connection.exec_driver_sql("SET LOCAL work_mem = '128MB'")
        # No foreign key holds the subscribers read below (migration 0019): a subscriber
        # deleted meanwhile waits for this lock and then clears its new rows, one deleted
        # before is not seen. Taken before the INSERT, whose statement snapshot comes after.
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock_shared(:a, :b)"),
            {"a": SNAPSHOT_LOCK[0], "b": SNAPSHOT_LOCK[1]},
        )
    # SQLAlchemy keeps an INSERT's row count only when asked (psycopg's would be lost).
    result = connection.execute(statement.execution_options(preserve_rowcount=True))
    assert result.rowcount >= 0, "the driver did not report how many deliveries were queued"
    return result.rowcount
