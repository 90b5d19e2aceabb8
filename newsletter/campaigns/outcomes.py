"""What each attempt's outcome does to its delivery: the statement that records it.

The sender hands the ledger (job, outcome) pairs; this sorts them into the
rows of each UPDATE (:mod:`newsletter.campaigns.statements`) and the state
moves the progress counters need. Pure: no database here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from newsletter.campaigns.destinations import destination_of, is_throttle
from newsletter.campaigns.statements import UNKNOWN_REPLY
from newsletter.campaigns.tables import DeliveryStatus
from newsletter.config import Delivery as DeliverySettings
from newsletter.transports import (
    BOUNCED,
    DEFERRED,
    FAILED,
    SENT,
    UNKNOWN,
    Outcome,
    TransportUnavailable,
)

# A claimed message that never reached a transport: the run stopped first.
NOT_SENT = Outcome("not sent", None, "claimed, but the run stopped before sending it")

Result = tuple[Any, Outcome | BaseException]  # (Job, what happened)


@dataclass
class Sorted:
    """The rows for each recording statement, and what the counters must move."""

    final: list[dict[str, Any]] = field(default_factory=list)
    defer: list[dict[str, Any]] = field(default_factory=list)
    requeue: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    bounced: list[tuple[str, str]] = field(default_factory=list)  # (address, reply)
    # Deferred because the destination throttles us: rows of ``defer`` whose ``b_next`` is
    # the destination's backoff end, known only in the transaction (destinations.throttled).
    throttle: list[dict[str, Any]] = field(default_factory=list)
    throttled: list[tuple[str, str]] = field(default_factory=list)  # (destination, reply)
    accepted: set[str] = field(default_factory=set)  # destinations that took a message
    moves: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None  # what stops the run, if anything


def sort_outcomes(
    finished: Sequence[Result],
    settings: DeliverySettings,
    *,
    proof: bool,
    lease: int | None,
    now: datetime,
    by_destination: bool = False,
    group: Callable[[str], str] = destination_of,
) -> Sorted:
    """Sort outcomes into statement rows: sent, deferred with backoff, unknown, requeued.

    With ``by_destination``, a throttling deferral (:func:`destinations.is_throttle`) is
    sorted apart, to wait for its destination's backoff instead of its own; ``group`` names
    an address's destination (``providers.Grouping``: by name or by MX).
    """
    out = Sorted()
    sending = DeliveryStatus.SENDING
    for job, outcome in finished:
        if isinstance(outcome, TransportUnavailable) and proof:
            # a proof is a check of delivery now: it fails with the reason
            outcome = Outcome(FAILED, None, str(outcome))
        if outcome is NOT_SENT or isinstance(outcome, TransportUnavailable):
            if outcome is not NOT_SENT:
                out.error = out.error or str(outcome)
            out.requeue.append({"b_id": job.id, "b_lease": lease})
            out.moves.append((sending, DeliveryStatus.QUEUED))
            continue
        if isinstance(outcome, BaseException):
            out.error = out.error or f"internal error: {outcome!r}"
            outcome = Outcome(UNKNOWN, None, f"{UNKNOWN_REPLY} ({outcome!r})")
        if outcome.status == UNKNOWN:
            out.unknown.append(
                {"b_id": job.id, "b_reply": outcome.reply, "b_now": now, "b_lease": lease}
            )
            out.moves.append((sending, DeliveryStatus.UNKNOWN))
        elif (
            by_destination
            and outcome.status == DEFERRED
            and not proof
            and is_throttle(outcome.code, outcome.reply)
        ):
            destination = group(job.address)
            out.throttle.append(
                {
                    "b_id": job.id,
                    "b_lease": lease,
                    "b_code": outcome.code,
                    "b_reply": outcome.reply,
                    "b_next": now,  # replaced by the destination's backoff end
                    "b_line": f"{now:%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n",
                    "destination": destination,
                }
            )
            out.throttled.append((destination, outcome.reply))
            out.moves.append((sending, DeliveryStatus.DEFERRED))
        elif outcome.status == DEFERRED and job.attempts < settings.max_attempts and not proof:
            delay = settings.retry_base_seconds * 2 ** (job.attempts - 1)
            out.defer.append(
                {
                    "b_id": job.id,
                    "b_lease": lease,
                    "b_code": outcome.code,
                    "b_reply": outcome.reply,
                    "b_next": now + timedelta(seconds=delay),
                    "b_line": f"{now:%Y-%m-%dT%H:%M:%SZ} {outcome.reply}\n",
                }
            )
            out.moves.append((sending, DeliveryStatus.DEFERRED))
        else:
            # a deferral past the retry limit (or of a proof) is a failure
            status = DeliveryStatus.FAILED if outcome.status == DEFERRED else outcome.status
            out.final.append(
                {
                    "b_id": job.id,
                    "b_lease": lease,
                    "b_status": status,
                    "b_code": outcome.code,
                    "b_reply": outcome.reply,
                    "b_queue": outcome.queue_id,
                    "b_now": now,
                }
            )
            out.moves.append((sending, status))
            if by_destination and status == SENT:
                out.accepted.add(group(job.address))
            if outcome.status == BOUNCED:
                out.bounced.append((job.address, outcome.reply))
    return out
