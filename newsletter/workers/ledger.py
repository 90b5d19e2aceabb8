"""The ledger of one batch: the campaign's ledger, confined to the batch's delivery ids.

Everything else is the sender process's ledger
(:class:`newsletter.campaigns.ledger.Ledger`): the same claims a short window
ahead, the same batched outcomes, the same crash bound. Only whose hold a
claim checks differs: a campaign sent by workers has no single holder, so a
claim takes a delivery only while the campaign is sending by workers and
this run's lease on its batch has not been released (by a run that took the
batch over, say, after this worker was judged dead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.statements import C, D, P, claim
from newsletter.campaigns.tables import Campaign, CampaignStatus, DeliveryStatus, SenderLease
from newsletter.config import Delivery as DeliverySettings
from newsletter.db import Database

L = SenderLease.__table__  # type: ignore[attr-defined]

# The claim's condition for a batch run: see the module's docstring.
HOLDS = sa.and_(
    sa.exists().where(
        C.c.id == D.c.campaign_id,
        C.c.status == CampaignStatus.SENDING.value,
        C.c.lease_id.is_(None),
        C.c.queue.is_not(None),
    ),
    sa.exists().where(L.c.id == P("b_lease"), L.c.released_at.is_(None)),
)


class BatchLedger(Ledger):
    """A :class:`Ledger` for delivery ids ``first_id`` … ``last_id`` of the campaign.

    Per-destination backoff is the single sender's for now: a batch that postponed its
    throttled messages would end with them still queued, and the batch bookkeeping
    (``settle``) knows only deferred retries; throttles retry per message here.
    """

    by_destination = False

    def __init__(
        self,
        db: Database,
        campaign: Campaign,
        settings: DeliverySettings,
        message_id: Callable[[int], str] = str,
        *,
        first_id: int,
        last_id: int,
    ):
        self.first_id, self.last_id = first_id, last_id  # before the fetch statement is built
        self._held: sa.Select | None = None  # still_ours's query, built once
        super().__init__(db, campaign, settings, message_id)

    def _in_batch(self) -> sa.ColumnElement[bool]:
        return sa.and_(D.c.campaign_id == self.cid, D.c.id.between(self.first_id, self.last_id))

    def _fetch_statement(self) -> sa.Select:
        return super()._fetch_statement().where(D.c.id.between(self.first_id, self.last_id))

    def claim_statement(self, n: int) -> sa.Update:
        return claim(n, HOLDS)

    def counts(self) -> dict[str, int]:
        query = sa.select(D.c.status, sa.func.count()).where(self._in_batch()).group_by(D.c.status)
        return self.transaction(lambda conn: {s: n for s, n in conn.execute(query)})

    def next_retry(self) -> float | None:
        query = (
            sa.select(D.c.next_attempt_at)
            .where(self._in_batch(), D.c.status == DeliveryStatus.DEFERRED.value)
            .order_by(D.c.next_attempt_at)
            .limit(1)
        )
        when = self.transaction(lambda conn: conn.execute(query).scalar())
        return when.timestamp() if when is not None else None

    def still_ours(self) -> bool:
        if self._held is None:
            self._held = sa.select(
                sa.exists().where(
                    C.c.id == self.cid,
                    C.c.status == CampaignStatus.SENDING.value,
                    C.c.lease_id.is_(None),
                    C.c.queue.is_not(None),
                ),
                sa.exists().where(L.c.id == self.lease, L.c.released_at.is_(None)),
            )
        row: Any = self.read(self._held)[0]
        return bool(row[0] and row[1])
