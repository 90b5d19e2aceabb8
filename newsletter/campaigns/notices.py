"""Confirmation and welcome mails in the delivery log: queued durably, sent, retried, recorded.

These mails belong to no campaign (``Delivery.campaign_id`` is NULL, ``kind``
says what they were) but obey the same rules as campaign messages:

* :func:`queue_notice` writes the delivery ``queued`` in the caller's
  transaction, the one that decides the mail (a sign-up, a confirmation
  click), so a mail is decided and queued together or not at all. The
  ``notice`` row beside it says what to compose when it is sent.
* :func:`claim_due` takes a due one (``queued``, or ``deferred`` whose
  retry time has come) and marks it ``sending`` before the bytes leave;
  :func:`record` writes the server's reply after. A crash in between leaves
  ``sending``, which :func:`recover_stale` turns into ``unknown`` (it may
  have been delivered): never sent twice, never silently dropped.
* A server that asks to try later gets the mail again after a growing wait
  (``[web] mail_retry_seconds``, doubled each time) until
  ``[web] mail_attempts``; then the delivery is ``failed`` with the reply.

``newsletter log --kind confirmation`` lists them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns.tables import Delivery, DeliveryKind, DeliveryStatus, Notice
from newsletter.config import Settings
from newsletter.db.columns import utcnow
from newsletter.message.compose import sender_domain
from newsletter.transports import DEFERRED, Outcome, Transport, TransportUnavailable
from newsletter.transports.base import FAILED

KINDS = (
    DeliveryKind.CONFIRMATION.value,
    DeliveryKind.WELCOME.value,
    DeliveryKind.INVITATION.value,
    DeliveryKind.REMINDER.value,
)
WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)
_TABLE = Delivery.__table__  # type: ignore[attr-defined]
_NOTICE = Notice.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A notice taken for sending: what to compose it from, and its attempt so far."""

    delivery_id: int
    kind: str
    address: str | None
    subscriber_id: int | None
    signup_id: int | None
    list_id: int | None
    message_id: str
    attempts: int  # this attempt included
    history: str | None
    queued_at: datetime


def queue_notice(
    session: Session,
    settings: Settings,
    kind: DeliveryKind,
    address: str,
    *,
    subscriber_id: int | None = None,
    signup_id: int | None = None,
    list_id: int | None = None,
) -> int:
    """Write a ``queued`` delivery of ``kind`` in ``session``'s transaction; its id.

    The Message-ID is chosen now, so every attempt carries the same one and a
    bounce finds this row whichever attempt it answers.
    """
    message_id = f"{kind.value}.{secrets.token_hex(8)}@{sender_domain(settings)}"
    delivery_id: int = session.execute(  # type: ignore[attr-defined]
        sa.insert(_TABLE).values(
            kind=kind.value,
            campaign_id=None,
            subscriber_id=subscriber_id,
            address=address,
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            message_id=message_id,
            queued_at=utcnow(),
        )
    ).inserted_primary_key[0]
    session.execute(
        sa.insert(_NOTICE).values(delivery_id=delivery_id, signup_id=signup_id, list_id=list_id)
    )
    return delivery_id


def _due(now: datetime) -> sa.ColumnElement[bool]:
    d = _TABLE.c
    return sa.and_(
        d.campaign_id.is_(None),  # the (campaign_id, status, id) index holds them together
        d.status.in_(WAITING),
        d.kind.in_(KINDS),
        sa.or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
    )


def claim_due(connection: sa.Connection, *, now: datetime | None = None) -> Claimed | None:
    """Take the oldest due notice for sending (``sending``, one more attempt), or None.

    The conditional update makes the claim safe with several servers on one
    database: only one of them gets a row.
    """
    now = now or utcnow()
    d, n = _TABLE.c, _NOTICE.c
    while True:
        row = connection.execute(
            sa.select(d.id).where(_due(now)).order_by(d.id).limit(1)
        ).scalar_one_or_none()
        if row is None:
            return None
        taken = connection.execute(
            sa.update(_TABLE)
            .where(d.id == row, d.status.in_(WAITING))
            .values(status=DeliveryStatus.SENDING.value, claimed_at=now, attempts=d.attempts + 1)
        ).rowcount
        if taken == 1:
            break
    got = connection.execute(
        sa.select(
            d.id, d.kind, d.address, d.subscriber_id, n.signup_id, n.list_id, d.message_id,
            d.attempts, d.history, d.queued_at,
        )
        .select_from(_TABLE.outerjoin(_NOTICE, n.delivery_id == d.id))
        .where(d.id == row)
    ).one()  # fmt: skip
    return Claimed(*got)  # type: ignore[call-arg]


def next_due(connection: sa.Connection) -> datetime | None:
    """When the next deferred notice may be tried again (None: none is waiting)."""
    d = _TABLE.c
    return connection.execute(
        sa.select(sa.func.min(d.next_attempt_at)).where(
            d.campaign_id.is_(None), d.status == DeliveryStatus.DEFERRED.value, d.kind.in_(KINDS)
        )
    ).scalar_one_or_none()


def deliver(transport: Transport, sender: str, rcpt: str, data: bytes) -> Outcome:
    """One attempt; a server that cannot be reached is a deferral like a 4xx."""
    try:
        channel = transport.open_channel()
    except TransportUnavailable as exc:
        return Outcome(DEFERRED, None, f"transport unavailable: {exc}")
    try:
        return channel.send(sender, rcpt, data)
    except TransportUnavailable as exc:
        return Outcome(DEFERRED, None, f"transport unavailable: {exc}")
    finally:
        channel.close()


def retry_delay(attempts: int, first: float) -> timedelta:
    """The wait after the ``attempts``-th deferral: ``first``, then twice as long each time."""
    return timedelta(seconds=first * 2 ** (attempts - 1))


def record(
    connection: sa.Connection,
    claimed: Claimed,
    outcome: Outcome,
    *,
    max_attempts: int,
    retry_seconds: float,
    now: datetime | None = None,
) -> str:
    """Write an attempt's outcome; a deferral is retried later until ``max_attempts``.

    Returns the delivery's new status. A deferred attempt's reply goes to the
    history (one "time code reply" line each), as campaign retries do.
    """
    now = now or utcnow()
    status, next_at, finished = outcome.status, None, now
    history = claimed.history
    if outcome.status == DEFERRED:
        history = (history or "") + f"{now:%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n"
        if claimed.attempts < max_attempts:
            next_at, finished = now + retry_delay(claimed.attempts, retry_seconds), None  # type: ignore[assignment]
        else:
            status = FAILED
    d = _TABLE.c
    connection.execute(
        sa.update(_TABLE)
        .where(d.id == claimed.delivery_id)
        .values(
            status=status,
            smtp_code=outcome.code,
            smtp_reply=outcome.reply,
            queue_id=outcome.queue_id,
            history=history,
            next_attempt_at=next_at,
            finished_at=finished,
        )
    )
    return status


def skip(connection: sa.Connection, claimed: Claimed, reason: str) -> None:
    """A notice that must not go out any more (its sign-up expired, its person was forgotten)."""
    d = _TABLE.c
    connection.execute(
        sa.update(_TABLE)
        .where(d.id == claimed.delivery_id)
        .values(
            status=DeliveryStatus.SKIPPED.value,
            smtp_reply=reason,
            next_attempt_at=None,
            finished_at=utcnow(),
            attempts=claimed.attempts - 1,  # nothing was attempted
        )
    )


def recover_stale(connection: sa.Connection, *, older_than: timedelta) -> int:
    """``sending`` notices claimed longer ago than any attempt takes become ``unknown``.

    Their sender stopped mid-flight (killed, power loss): the mail may have
    been delivered, so it is not sent again; the log shows it for a human.
    """
    d = _TABLE.c
    return connection.execute(
        sa.update(_TABLE)
        .where(
            d.campaign_id.is_(None),
            d.status == DeliveryStatus.SENDING.value,
            d.kind.in_(KINDS),
            d.claimed_at < utcnow() - older_than,
        )
        .values(
            status=DeliveryStatus.UNKNOWN.value,
            smtp_reply="the server stopped while sending; it may have been delivered",
            finished_at=utcnow(),
        )
    ).rowcount
