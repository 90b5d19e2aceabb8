"""``inbound process`` on a Maildir and an mbox: idempotent, and foreign mail is never touched."""

from __future__ import annotations

import contextlib
import mailbox
from pathlib import Path

from inbound_helpers import EXPECTED, FIXTURES, Sent, tree
from sqlmodel import select

from newsletter.inbound.process import process_source
from newsletter.inbound.sources import MaildirSource, MboxSource
from newsletter.inbound.tables import Bounce

OURS = sorted(n for n, (kind, _, _) in EXPECTED.items() if kind != "unrelated")
FOREIGN = sorted(n for n, (kind, _, _) in EXPECTED.items() if kind == "unrelated")


def _process(sent: Sent, box: Path):
    return process_source(sent.db, sent.settings, MaildirSource(box))


def test_maildir_twice_moves_only_ours_and_changes_nothing_the_second_time(sent: Sent) -> None:
    box = sent.maildir("Maildir", sorted(EXPECTED))
    # Foreign mail in cur/ with flags, as a mail client leaves it.
    (reply,) = (box / "new").glob("*:human_reply.eml")
    reply.rename(box / "cur" / "1764576999.M99P4711.mx:2,FS")
    before = tree(box)
    foreign_before = {p: h for p, h in before.items() if not any(o in p for o in OURS)}
    assert len(foreign_before) == len(FOREIGN)

    first = _process(sent, box)
    assert (first.seen, first.moved, first.not_ours) == (len(EXPECTED), len(OURS), len(FOREIGN))
    after = tree(box)
    # Foreign mail: same paths (folder, file name, flags) and same bytes.
    assert {p: h for p, h in after.items() if not p.startswith(".Processed/")} == foreign_before
    # Ours: moved into .Processed with the same name and bytes.
    moved = {
        p.removeprefix(".Processed/"): h for p, h in after.items() if p.startswith(".Processed/")
    }
    assert moved == {p: h for p, h in before.items() if p not in foreign_before}
    with sent.db.session() as s:
        rows = s.exec(select(Bounce)).all()
    assert len(rows) == len(OURS)

    second = _process(sent, box)
    assert (second.seen, second.moved, second.duplicates, sum(second.kinds.values())) == (
        len(FOREIGN),
        0,
        0,
        0,
    )
    assert tree(box) == after
    with sent.db.session() as s:
        assert len(s.exec(select(Bounce)).all()) == len(OURS)


def test_a_copy_of_a_processed_message_is_a_duplicate_and_is_moved(sent: Sent) -> None:
    box = sent.maildir("Maildir", ["gmail_hard.eml"])
    _process(sent, box)
    again = sent.maildir("Maildir", ["gmail_hard.eml"])  # the same file delivered again
    report = _process(sent, again)
    assert (report.duplicates, report.moved, sum(report.kinds.values())) == (1, 1, 0)
    assert len(list((box / ".Processed" / "new").iterdir())) == 2
    with sent.db.session() as s:
        assert len(s.exec(select(Bounce)).all()) == 1


def test_a_crash_between_commit_and_move_is_finished_by_the_next_run(sent: Sent) -> None:
    box = sent.maildir("Maildir", ["qmail_hard.eml"])

    class CrashBeforeMove(MaildirSource):
        def done(self, items):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        process_source(sent.db, sent.settings, CrashBeforeMove(box))
    assert len(list((box / "new").iterdir())) == 1
    report = _process(sent, box)
    assert (report.duplicates, report.moved) == (1, 1)
    assert list((box / "new").iterdir()) == []


def test_mbox_is_read_only_and_idempotent(sent: Sent, tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    for name in sorted(EXPECTED):
        box.add((FIXTURES / name).read_bytes())
    box.close()
    before = path.read_bytes()
    first = process_source(sent.db, sent.settings, MboxSource(path))
    assert sum(first.kinds.values()) == len(OURS)
    second = process_source(sent.db, sent.settings, MboxSource(path))
    assert (second.duplicates, sum(second.kinds.values()), second.moved) == (len(OURS), 0, 0)
    assert path.read_bytes() == before
