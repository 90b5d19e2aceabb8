"""Where inbound mail is read from: a Maildir or an mbox file (IMAP is :mod:`.imap`).

A source yields each message's bytes with a reference, and afterwards is
told which of them were ours. Only those are moved (a Maildir's to its
``.Processed`` subfolder, same file name); nothing is ever deleted, and a
message we did not recognise keeps its bytes, its file name, its folder and
its flags. An mbox file is never written: the database remembers what was
processed there.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsletter.errors import BadInput, OperationFailed


class InboundError(BadInput):
    """A mailbox that cannot be read as the source it was given as."""


@dataclass
class Item:
    """One message of a source; ``ref`` means something only to that source."""

    ref: object
    raw: bytes


class Source(Protocol):
    name: str

    def count(self) -> int | None: ...

    def __iter__(self) -> Iterator[Item]: ...

    def done(self, items: list[Item]) -> int: ...

    def close(self) -> None: ...


class MaildirSource:
    """A Maildir (``cur/``, ``new/``, ``tmp/``); ``tmp/`` is never read (deliveries in flight)."""

    def __init__(self, path: Path, processed: str = ".Processed"):
        self.path = path
        self.name = f"maildir:{path}"
        if not all((path / d).is_dir() for d in ("cur", "new", "tmp")):
            raise InboundError(f"{path}: not a Maildir (needs cur/, new/ and tmp/)")
        if "/" in processed or processed in ("", ".", ".."):
            raise InboundError(
                f"processed folder {processed!r} must be one folder name, e.g. .Processed"
            )
        self.processed = path / processed

    def _names(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                found += sorted(
                    (sub, e.name) for e in entries if not e.name.startswith(".") and e.is_file()
                )
        return found

    def count(self) -> int | None:
        return len(self._names())

    def __iter__(self) -> Iterator[Item]:
        for sub, name in self._names():
            try:
                raw = (self.path / sub / name).read_bytes()
            except FileNotFoundError:
                continue  # another client moved it meanwhile
            yield Item((sub, name), raw)

    def done(self, items: list[Item]) -> int:
        """Move ``items`` to the processed folder, keeping sub folder and file name.

        The folder is made only when something moves: a Maildir that held
        nothing of ours is left exactly as it was.
        """
        if not items:
            return 0
        for d in ("cur", "new", "tmp"):
            (self.processed / d).mkdir(mode=0o700, parents=True, exist_ok=True)
        moved = 0
        for item in items:
            sub, name = item.ref  # type: ignore[misc]
            src = self.path / sub / name  # type: ignore[has-type]
            dest = self.processed / sub / name  # type: ignore[has-type]
            n = 1
            while dest.exists():  # never replace a file that is already there
                dest = self.processed / sub / f"{name}.{n}"  # type: ignore[has-type]
                n += 1
            try:
                os.rename(src, dest)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OperationFailed(f"cannot move {src} to {dest}: {exc.strerror}") from exc
            moved += 1
        return moved

    def close(self) -> None:
        pass


class MboxSource:
    """An mbox file, read only: we never rewrite a file someone else's MTA appends to."""

    def __init__(self, path: Path):
        self.path = path
        self.name = f"mbox:{path}"
        if not path.is_file():
            raise InboundError(f"{path}: no such mbox file")
        self._box = mailbox.mbox(path, create=False)

    def count(self) -> int | None:
        return len(self._box)

    def __iter__(self) -> Iterator[Item]:
        for key in self._box.iterkeys():
            yield Item(key, self._box.get_bytes(key))

    def done(self, items: list[Item]) -> int:
        return 0

    def close(self) -> None:
        self._box.close()
