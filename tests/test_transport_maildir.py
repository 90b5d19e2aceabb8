"""The Maildir outbox when the disk fills up: no fragments left in tmp/, nothing lost."""

from __future__ import annotations

import email
import errno
import os
from pathlib import Path

import pytest
from delivery_helpers import World

from newsletter.campaigns.sender import dry_run_campaign, run_campaign
from newsletter.errors import OperationFailed
from newsletter.transports.maildir import MaildirTransport


class DiskFills:
    """``os.write`` for files under ``tmp/`` of an outbox: the disk fills after ``room`` bytes.

    Writes elsewhere (the database, the test's own output) are left alone.
    A write that does not fit writes what fits, and the next one fails with
    ENOSPC, as a real file system does.
    """

    def __init__(self, outbox: Path, room: int):
        self.tmp = str(outbox / "tmp") + "/"
        self.room = room
        self.real = os.write

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(self.tmp):
            return self.real(fd, data)
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.real(fd, bytes(data[: self.room]))
        self.room -= n
        return n


def test_a_full_disk_leaves_no_partial_file(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = world.add(5)
    cid = world.campaign()
    outbox = world.tmp / "outbox"
    one = dry_run_campaign(world.db, world.settings, cid).bytes / 5
    disk = DiskFills(outbox, room=int(2.5 * one))  # two and a half messages fit
    monkeypatch.setattr(os, "write", disk)
    with pytest.raises(OperationFailed) as failed:
        run_campaign(world.db, world.settings, cid, MaildirTransport(outbox))
    assert str(failed.value) == (
        f"cannot write to outbox {outbox}: No space left on device; campaign {cid} is paused, "
        f"resume with: newsletter campaigns resume {cid}"
    )
    assert list((outbox / "tmp").iterdir()) == []  # the half-written file is gone
    written = sorted((outbox / "new").iterdir())
    counts = world.counts(cid)
    assert counts == {"sent": len(written), "queued": 5 - len(written)}
    assert len(written) == 2
    for path in written:  # whole messages only
        assert path.read_bytes().endswith(b"--\n")
        assert email.message_from_bytes(path.read_bytes()).get_payload(1).get_content_type() == (
            "text/html"
        )

    monkeypatch.setattr(os, "write", disk.real)  # space was freed
    result = run_campaign(world.db, world.settings, cid, MaildirTransport(outbox), resume=True)
    assert result.counts == {"sent": 5}
    recipients = sorted(
        p.read_bytes().split(b"\n")[1].removeprefix(b"Delivered-To: ").decode()
        for p in (outbox / "new").iterdir()
    )
    assert recipients == sorted(addresses)
