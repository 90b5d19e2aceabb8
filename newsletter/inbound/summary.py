"""What ``campaigns show`` and ``log`` show of the bounce table, read without the ORM.

Both commands run on a plain connection (``campaigns/report.py``), so these
queries use a stand-in for the bounce table; ``review.py`` keeps the same
functions for sessions and delegates here. ``tests/test_campaign_report.py``
checks the stand-in's columns and the complaint kind against ``tables.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

# Gmail's bulk sender guidelines: stay below 0.1 %, never reach 0.3 %.
COMPLAINT_WARNING = 0.001
COMPLAINT_ERROR = 0.003
COMPLAINT = "complaint"  # Kind.COMPLAINT

BOUNCE = sa.table(
    "bounce",
    *(sa.column(c) for c in ("id", "kind", "key_hash", "delivery_id", "campaign_id", "decision")),
)
_DELIVERY = sa.table("delivery", sa.column("campaign_id"), sa.column("status"))


@dataclass(frozen=True)
class ComplaintRate:
    complaints: int
    sent: int

    @property
    def rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def level(self) -> str:
        """ok, warning (above 0.1 %) or error (above 0.3 %)."""
        if self.rate > COMPLAINT_ERROR:
            return "error"
        return "warning" if self.rate > COMPLAINT_WARNING else "ok"


def complaint_rate(
    connection: sa.Connection, campaign_id: int, sent: int | None = None
) -> ComplaintRate:
    """Complaints about a campaign per message it sent (``sent`` when already counted)."""
    b = BOUNCE.c
    complaints = connection.execute(
        sa.select(sa.func.count(sa.distinct(b.key_hash))).where(
            b.campaign_id == campaign_id, b.kind == COMPLAINT
        )
    ).scalar_one()
    if sent is None:
        d = _DELIVERY.c
        sent = connection.execute(
            sa.select(sa.func.count()).where(d.campaign_id == campaign_id, d.status == "sent")
        ).scalar_one()
    return ComplaintRate(complaints, sent)


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
