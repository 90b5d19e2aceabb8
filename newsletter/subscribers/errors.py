"""Errors of the subscriber domain; all are the user's to fix (exit status 2)."""

from __future__ import annotations

from newsletter.errors import BadInput, Problem


class SubscriberError(BadInput):
    """A subscriber command cannot be done as asked (unknown list, suppressed address …)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__([Problem(message, field=field)])


class UnknownList(SubscriberError):
    pass


class UnknownSubscriber(SubscriberError):
    pass


class ImportError_(BadInput):
    """A subscriber file cannot be imported; carries every located problem."""
