"""Who gets mail, as SQL: one expression for the snapshot, the send-time check and look-ups.

A campaign's recipients are chosen when it is created (:func:`people.recipients`)
and checked again right before each message leaves (the campaign ledger): an
unsubscribe or a bounce in between must win. Both use :func:`mailable`, so the
two can never disagree about what "confirmed and not suppressed" means.

Kept free of the address parser and the consent log, so the sending process
loads nothing it does not need.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from newsletter.subscribers.status import Status
from newsletter.subscribers.tables import Subscriber, Subscription, Suppression

SUBSCRIBER = Subscriber.__table__  # type: ignore[attr-defined]
SUBSCRIPTION = Subscription.__table__  # type: ignore[attr-defined]
SUPPRESSION = Suppression.__table__  # type: ignore[attr-defined]


def suppressed(key_hash: Any) -> sa.ColumnElement[bool]:
    """True when an address with this keyed hash must not be mailed (any list)."""
    return sa.exists().where(SUPPRESSION.c.key_hash == key_hash)


def mailable(list_id: Any) -> sa.ColumnElement[bool]:
    """True for a subscription row of ``list_id`` that may be mailed now.

    The query must have ``subscription`` joined to ``subscriber`` on
    ``subscriber_id`` (inner or outer); an outer join without a match is
    simply not mailable.
    """
    return sa.and_(
        SUBSCRIPTION.c.list_id == list_id,
        SUBSCRIPTION.c.status == Status.CONFIRMED.value,
        ~suppressed(SUBSCRIBER.c.key_hash),
    )
