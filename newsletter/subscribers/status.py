"""The states a subscription and a suppression can be in (no database imports)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A subscription's state; only ``confirmed`` subscriptions receive mail."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Reason(StrEnum):
    """Why an address is suppressed; every reason blocks all lists."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    FORGOTTEN = "forgotten"
