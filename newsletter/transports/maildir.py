"""The ``maildir`` transport: an outbox directory with one file per message.

The embedded default, so a fresh checkout "sends" without a mail server; any
mail client or ``mutt -f outbox`` can read the result. Each file is written
under ``tmp/`` and renamed into ``new/`` (the Maildir protocol), so a reader
never sees half a message, even after a crash; the file is fsynced first, so
a power loss cannot leave an empty message behind a "sent" log entry.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

from newsletter.transports.base import SENT, Outcome, TransportUnavailable

_counter = itertools.count()


class MaildirTransport:
    name = "maildir"
    connections = 1

    def __init__(self, outbox: str | Path):
        self.outbox = Path(outbox)
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

    def describe(self) -> str:
        return f"maildir outbox {self.outbox}"

    def open_channel(self) -> MaildirTransport:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.outbox / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportUnavailable(
                f"cannot create outbox {self.outbox}: {exc.strerror}"
            ) from exc
        return self

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """Write ``data`` with LF line ends, recording the envelope as a mail store does."""
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}.{self._host}"
        envelope = f"Return-Path: <{sender}>\nDelivered-To: {recipient}\n".encode()
        tmp = self.outbox / "tmp" / name
        try:
            with open(tmp, "xb") as f:
                f.write(envelope + data.replace(b"\r\n", b"\n"))
                # The log will say "sent": the bytes must be on disk before the
                # rename makes the message visible (as Postfix's local delivery does).
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.outbox / "new" / name)
        except OSError as exc:
            raise TransportUnavailable(
                f"cannot write to outbox {self.outbox}: {exc.strerror}"
            ) from exc
        return Outcome(SENT, None, f"written to {self.outbox / 'new' / name}", name)

    def close(self) -> None:
        pass
