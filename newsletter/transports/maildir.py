"""The ``maildir`` transport: an outbox directory with one file per message.

The embedded default, so a fresh checkout "sends" without a mail server; any
mail client or ``mutt -f outbox`` can read the result. Each file is written
under ``tmp/`` and renamed into ``new/`` (the Maildir protocol), so a reader
never sees half a message, even after a crash; the file is fsynced first, so
a power loss cannot leave an empty message behind a "sent" log entry.
"""

from __future__ import annotations

import contextlib
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
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise TransportUnavailable(
                f"cannot write to outbox {self.outbox}: {exc.strerror}"
            ) from exc
        try:
            _write_all(fd, envelope + data.replace(b"\r\n", b"\n"))
            # The log will say "sent": the bytes must be on disk before the
            # rename makes the message visible (as Postfix's local delivery does).
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.rename(tmp, self.outbox / "new" / name)
        except OSError as exc:
            # A full disk leaves half a message behind: remove it, or tmp/
            # fills with fragments no reader will ever clean up.
            if fd != -1:
                os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise TransportUnavailable(
                f"cannot write to outbox {self.outbox}: {exc.strerror}"
            ) from exc
        return Outcome(SENT, None, f"written to {self.outbox / 'new' / name}", name)

    def close(self) -> None:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
