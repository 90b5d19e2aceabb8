"""The ``dry-run`` transport: accepts everything, sends nothing, counts bytes."""

from __future__ import annotations

import threading

from newsletter.transports.base import SENT, Outcome


class DryRunTransport:
    """Lets a campaign be composed end to end (and measured) without any delivery."""

    name = "dry-run"
    connections = 1

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "dry-run (nothing is sent)"

    def open_channel(self) -> DryRunTransport:
        return self

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        with self._lock:
            self.messages += 1
            self.bytes += len(data)
        return Outcome(SENT, 250, "dry run: not sent")

    def close(self) -> None:
        pass
