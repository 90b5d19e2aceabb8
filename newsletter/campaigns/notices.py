"""Send one confirmation or welcome mail and log it in the delivery log as its own kind.

These mails belong to no campaign (``Delivery.campaign_id`` is NULL, ``kind``
says what they were), but they obey the same rule as campaign messages: the
row is written as ``sending`` before the bytes leave and gets the server's
reply after, so every attempt's outcome is in the log, and a crash in
between leaves ``sending`` for a human to see rather than nothing.

A server that asks to try later is retried a few times within seconds (the
person is waiting for the mail); after that the delivery is ``failed`` with
the reply, and the person can ask again.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from newsletter.campaigns.tables import Delivery, DeliveryKind, DeliveryStatus
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.columns import utcnow
from newsletter.message.compose import envelope_address, sender_domain
from newsletter.message.dkim import signer_from_settings
from newsletter.message.notice import Notice, compose_notice
from newsletter.transports import DEFERRED, Outcome, Transport, TransportUnavailable
from newsletter.transports.base import FAILED

RETRY_DELAYS = (1.0, 4.0)


@dataclass(frozen=True)
class NoticeResult:
    delivery_id: int
    status: str
    reply: str


def send_notice(
    db: Database,
    settings: Settings,
    transport: Transport,
    kind: DeliveryKind,
    notice: Notice,
    to: str,
    *,
    subscriber_id: int | None = None,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
) -> NoticeResult:
    """Compose, log, send and record one notice; never raises for a refused or failed send."""
    message_id = f"{kind.value}.{secrets.token_hex(8)}@{sender_domain(settings)}"
    table = Delivery.__table__  # type: ignore[attr-defined]
    now = utcnow()
    with db.engine.begin() as conn:
        delivery_id = conn.execute(
            sa.insert(table).values(
                kind=kind.value,
                campaign_id=None,
                subscriber_id=subscriber_id,
                address=to,
                status=DeliveryStatus.SENDING.value,
                attempts=0,
                message_id=message_id,
                queued_at=now,
                claimed_at=now,
            )
        ).inserted_primary_key[0]
    data = compose_notice(
        settings, notice, to, None, message_id, sign=signer_from_settings(settings)
    )
    sender, rcpt = settings.organisation.sender_email, envelope_address(to)
    history: list[str] = []
    attempts = 0
    outcome: Outcome
    for delay in (*retry_delays, None):
        attempts += 1
        outcome = _attempt(transport, sender, rcpt, data)
        if outcome.status != DEFERRED or delay is None:
            break
        history.append(f"{utcnow():%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n")
        time.sleep(delay)
    status = FAILED if outcome.status == DEFERRED else outcome.status
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where(table.c.id == delivery_id)
            .values(
                status=status,
                attempts=attempts,
                smtp_code=outcome.code,
                smtp_reply=outcome.reply,
                queue_id=outcome.queue_id,
                history="".join(history) or None,
                finished_at=utcnow(),
            )
        )
    return NoticeResult(delivery_id, status, outcome.reply)


def _attempt(transport: Transport, sender: str, rcpt: str, data: bytes) -> Outcome:
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
