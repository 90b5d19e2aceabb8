"""The delivery state machine's UPDATE statements, and how the hot path runs them.

Kept apart from :mod:`newsletter.campaigns.ledger` so the SQL of each
transition can be read in one place: every state change a delivery can make
is one statement here. They are built at import and compiled once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus
from newsletter.db.columns import UTCDateTime

UNKNOWN_REPLY = (
    "outcome unknown: the sender stopped while this message was in flight; "
    "not sent again unless resumed with --resend-unknown"
)
UNRECORDED_REPLY = (
    "outcome unknown: the server answered, but the database stayed locked and the answer "
    "could not be recorded; not sent again unless resumed with --resend-unknown"
)
SKIPPED_REPLY = "not sent: unsubscribed, suppressed or removed since the campaign was created"

# One letter each: the tables appear in nearly every expression of the ledger.
D = Delivery.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]
P = sa.bindparam
_BY_ID = D.c.id == P("b_id")
# Outcomes are written only into the claim of this run's lease: a sender
# whose campaign was taken over cannot overwrite what its successor records.
_OURS = sa.and_(_BY_ID, D.c.lease_id == P("b_lease"))


def _stmt(**values: Any) -> sa.Update:
    return sa.update(D).where(_OURS).values(**values)


# A claim is a compare-and-swap on a batch: it takes each delivery only while
# it is still waiting (queued, or deferred and fetched as due) and only while
# this run's lease still holds the campaign. A cancel, a pause or a sender
# taking over in between makes it take nothing, so the message is not sent
# (and never sent twice). RETURNING says which rows it took. The Message-ID
# is made from the id here and in the composer alike (campaign uid, id, domain).
CLAIM = (
    sa.update(D)
    .where(
        D.c.id.in_(P("b_ids", expanding=True)),
        D.c.status.in_([DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value]),
    )
    .where(
        sa.exists().where(
            C.c.id == D.c.campaign_id,
            C.c.status == CampaignStatus.SENDING.value,
            C.c.lease_id == P("b_lease"),
        )
    )
    .values(
        status=DeliveryStatus.SENDING.value,
        attempts=D.c.attempts + 1,
        claimed_at=P("b_now", type_=UTCDateTime),
        message_id=P("b_mid_before", type_=sa.String)
        + sa.cast(D.c.id, sa.String)
        + P("b_mid_after", type_=sa.String),
        lease_id=P("b_lease"),
    )
    .returning(D.c.id, D.c.attempts)
)
FINAL = _stmt(
    status=P("b_status"),
    smtp_code=P("b_code"),
    smtp_reply=P("b_reply"),
    queue_id=P("b_queue"),
    finished_at=P("b_now"),
    next_attempt_at=None,
)
DEFER = _stmt(
    status=DeliveryStatus.DEFERRED.value,
    smtp_code=P("b_code"),
    smtp_reply=P("b_reply"),
    next_attempt_at=P("b_next"),
    history=sa.func.coalesce(D.c.history, "") + P("b_line"),
)
# Claimed but never handed to the transport (the run stopped first), or the
# server could not be reached at all: as if never claimed.
REQUEUE = _stmt(
    status=DeliveryStatus.QUEUED.value,
    attempts=D.c.attempts - 1,
    claimed_at=None,
    next_attempt_at=None,
    lease_id=None,
)
UNKNOWN = _stmt(
    status=DeliveryStatus.UNKNOWN.value, smtp_reply=P("b_reply"), finished_at=P("b_now")
)
SKIP = (
    sa.update(D)
    .where(_BY_ID)
    .values(
        status=DeliveryStatus.SKIPPED.value,
        smtp_reply=SKIPPED_REPLY,
        finished_at=P("b_now"),
        next_attempt_at=None,
    )
)


class Prepared:
    """A statement compiled once for the engine's dialect, run as driver SQL.

    Recording outcomes runs these for every message; SQLAlchemy's
    per-execution bookkeeping cost more than the database, so they are
    compiled once and their parameters handed straight to the driver, on any
    backend, while the statements stay SQLAlchemy expressions.
    """

    def __init__(self, stmt: sa.Update, dialect: sa.Dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.defaults = dict(compiled.params)
        self.order = compiled.positiontup if compiled.positional else None
        to_db = UTCDateTime().bind_processor(dialect)
        self.convert = {n for n in self.defaults if n in ("b_now", "b_next")}
        self.to_db = to_db or (lambda v: v)

    def params(self, values: dict[str, Any]) -> Any:
        merged = self.defaults | values
        for name in self.convert:
            merged[name] = self.to_db(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[n] for n in self.order)

    def run(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, [self.params(r) for r in rows])
