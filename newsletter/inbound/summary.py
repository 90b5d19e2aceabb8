"""What ``campaigns show`` and ``log`` show of the bounce table, read without the ORM.

``log`` runs on a plain connection (``campaigns/report.py``), so its query
uses a stand-in for the bounce table; the complaint rate of ``campaigns
show`` is plain SQL in ``campaigns/totals.py`` (re-exported here, beside the
rest of what inbound mail reports). ``review.py`` keeps the same functions
for sessions and delegates here. ``tests/test_campaign_report.py`` checks the
stand-in's columns and the complaint kind against ``tables.py``.
"""

from __future__ import annotations

import sqlalchemy as sa

# The complaint rate is part of ``campaigns show``, which reads without SQLAlchemy.
from newsletter.campaigns.totals import (
    COMPLAINT,
    COMPLAINT_ERROR,
    COMPLAINT_WARNING,
    ComplaintRate,
    complaint_rate,
)

__all__ = [
    "COMPLAINT",
    "COMPLAINT_ERROR",
    "COMPLAINT_WARNING",
    "ComplaintRate",
    "bounces_by_delivery",
    "complaint_rate",
]

BOUNCE = sa.table(
    "bounce",
    *(sa.column(c) for c in ("id", "kind", "key_hash", "delivery_id", "campaign_id", "decision")),
)


def bounces_by_delivery(
    connection: sa.Connection, campaign_id: int | None, *, every: bool = False
) -> dict[int, str]:
    """delivery id → "kind decision (bounce N)" of its latest bounce, for ``log``.

    ``campaign_id`` None: the bounces of mails outside campaigns (confirmation
    and welcome mails); ``every``: of all deliveries.
    """
    b = BOUNCE.c
    query = sa.select(b.delivery_id, b.id, b.kind, b.decision).where(b.delivery_id.is_not(None))
    if not every:
        query = query.where(
            b.campaign_id.is_(None) if campaign_id is None else b.campaign_id == campaign_id
        )
    rows = connection.execute(query.order_by(b.id))
    return {d: f"{kind} {decision} (bounce {bid})" for d, bid, kind, decision in rows}
