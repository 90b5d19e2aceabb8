"""Transports deliver composed bytes: ``smtp``, ``maildir`` or ``dry-run``.

A transport opens one ``Channel`` per concurrent connection; the sender runs
one worker per channel. Every attempt ends in an ``Outcome`` whose status is
decided in one place (:func:`classify`, in ``base``) from the server's reply.
Each transport module is imported only when it is opened.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.transports.base import (
    BOUNCED,
    DEFERRED,
    FAILED,
    SENT,
    UNKNOWN,
    Channel,
    DotSafe,
    Envelope,
    Outcome,
    Transport,
    TransportUnavailable,
    classify,
)

__all__ = [
    "BOUNCED",
    "DEFERRED",
    "FAILED",
    "SENT",
    "UNKNOWN",
    "Channel",
    "DotSafe",
    "Envelope",
    "Outcome",
    "Transport",
    "TransportUnavailable",
    "classify",
    "open_transport",
]


def open_transport(
    settings: Settings,
    name: str | None = None,
    *,
    outbox: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    connections: int | None = None,
) -> Transport:
    """The transport named by ``name`` or ``[delivery] transport``; arguments override config."""
    name = name or settings.delivery.transport
    if name == "smtp":
        from newsletter.transports.smtp import SmtpTransport

        return SmtpTransport.from_settings(settings, host=host, port=port, connections=connections)  # type: ignore[return-value]
    if name == "maildir":
        from newsletter.transports.maildir import MaildirTransport

        return MaildirTransport(outbox or settings.path(settings.delivery.outbox))
    if name == "dry-run":
        from newsletter.transports.dryrun import DryRunTransport

        return DryRunTransport()
    raise ConfigError(f"unknown transport {name!r}: use smtp, maildir or dry-run")
