"""The reading half of an import: file → validated, de-duplicated rows.

This half is pure Python and CPU-bound (CSV parsing, address validation,
hashing), while the writing half (:mod:`import_apply`) mostly waits on the
database. For big files the reading half therefore runs in a second process
and hands over batches through a bounded queue, so both cores work and
memory stays flat. Small files are read in-process: starting a process
costs more than it saves.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from newsletter import languages
from newsletter.errors import BadInput, Problem
from newsletter.hashing import hash_with
from newsletter.subscribers.addresses import AddressError, parse_address
from newsletter.subscribers.errors import ImportError_, SubscriberError
from newsletter.subscribers.fields import check_language, check_name, check_timezone
from newsletter.subscribers.importers import RowProblem, detect_format, own
from newsletter.subscribers.importers.csvfile import CsvFile
from newsletter.subscribers.importers.jsonfile import JsonFile, open_table
from newsletter.tabular import unescape_formula

# Above this size the reading half gets its own process.
WORKER_THRESHOLD_BYTES = 4 << 20


class Item(NamedTuple):
    """One valid row, ready to be applied."""

    line: int
    email: str
    key: str
    hash: str
    role: bool
    list_slug: str | None
    status: str
    name: str | None
    language: str | None
    attributes_json: str
    suppress: str | None
    suppress_detail: str | None
    keep_person: bool
    created_at: datetime | None
    subscribed_at: datetime | None
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    consent_detail: str | None
    timezone: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickling through tuple.__new__ is twice as fast as the default
        # NamedTuple path, which matters at a million rows.
        return (tuple.__new__, (Item, tuple(self)))


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    merged: list[Problem] = field(default_factory=list)
    """Rows whose address an earlier row already had (compared without case)."""
    variants: Counter[str] = field(default_factory=Counter)
    """Rows per language tag without a catalog of its own (``fr-CH``, served in ``fr``)."""
    rows: int = 0
    bytes_read: int = 0


@dataclass(frozen=True)
class ReadOptions:
    path: str
    target: str | None
    default_status: str
    has_consent: bool
    secret: bytes
    check_deliverability: bool
    batch_size: int
    # The organisation's theme folder: the reader process checks language tags against
    # its catalogs too (the search path is per process).
    theme_dir: str | None = None


class SeenKeys:
    """Exact duplicate detection in about 20 bytes per row.

    A Python ``set`` of a million addresses needs over 100 MB; this open
    addressing table stores the 128-bit keyed hash of (list, address) in two
    ``array('Q')`` columns plus the first line. Two different addresses
    would need a 128-bit collision to be confused.
    """

    def __init__(self, capacity: int = 1 << 12):
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        self._hi = array("Q", bytes(8 * capacity))
        self._lo = array("Q", bytes(8 * capacity))
        self._line = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def add(self, digest: str, line: int) -> int | None:
        """Remember ``digest`` (32 hex digits); return the first line if it was seen."""
        hi = int(digest[:16], 16) | 1  # 0 marks an empty slot
        lo = int(digest[16:32], 16)
        his, los, mask = self._hi, self._lo, self._mask
        i = hi & mask
        while True:
            h = his[i]
            if h == 0:
                his[i], los[i], self._line[i] = hi, lo, line
                self._count += 1
                if self._count * 10 > mask * 7:
                    self._grow()
                return None
            if h == hi and los[i] == lo:
                return self._line[i]
            i = (i + 1) & mask

    def _grow(self) -> None:
        # Re-insert straight from the old arrays: building a list of entries
        # first would cost more memory than the table itself.
        his, los, lines = self._hi, self._lo, self._line
        self._alloc(len(his) * 2)
        new_his, new_los, new_lines, mask = self._hi, self._lo, self._line, self._mask
        for j, h in enumerate(his):
            if h:
                i = h & mask
                while new_his[i]:
                    i = (i + 1) & mask
                new_his[i], new_los[i], new_lines[i] = h, los[j], lines[j]
        self._count = sum(1 for h in his if h)


def read_batches(options: ReadOptions, src: CsvFile | JsonFile | None = None) -> Iterator[Batch]:
    """Parse and validate the file; yields batches of valid items and problems."""
    src = src or open_table(options.path)
    fmt = detect_format(src.columns)
    assert fmt is not None, "checked by import_file before reading"
    convert = fmt.convert
    if fmt.name == own.NAME and isinstance(src, CsvFile):
        convert = _unescaping(convert)
    seen = SeenKeys()
    batch = Batch()
    secret, file = options.secret, str(src.path)
    with src:
        for record in src.records():
            batch.rows += 1
            if isinstance(record, Problem):
                batch.problems.append(record)
                continue
            try:
                item = _item(options, record.line, convert(record.values), secret)
            except (RowProblem, AddressError, SubscriberError) as exc:
                batch.problems.append(Problem(str(exc), file=file, line=record.line))
                continue
            # With one target list the address hash identifies the row already.
            digest = (
                item.hash if options.target else hash_with(secret, f"{item.list_slug}\n{item.key}")
            )
            first = seen.add(digest, item.line)
            if first is not None:
                # Anna@ and anna@ are one person (see addresses.py): not an error that
                # blocks the file, but the second row's data is not used, so say so.
                batch.merged.append(
                    Problem(
                        f"{item.email}: same address as line {first}; merged into it "
                        "(this row's other fields are not used)",
                        file=file,
                        line=item.line,
                        severity="warning",
                    )
                )
                continue
            batch.items.append(item)
            if item.language and not languages.is_available(item.language):
                batch.variants[item.language] += 1
            if len(batch.items) >= options.batch_size:
                batch.bytes_read = src.bytes_read
                yield batch
                batch = Batch()
        batch.bytes_read = src.size
        yield batch


def _unescaping(convert: Callable[[dict[str, str]], Any]) -> Callable[[dict[str, str]], Any]:
    """``convert`` on the cells as they were before our CSV export defused formulas."""

    def unescaped(values: dict[str, str]) -> Any:
        for value in values.values():
            if value[:1] == "'":
                values = {k: unescape_formula(v) for k, v in values.items()}
                break
        return convert(values)

    return unescaped


def _item(options: ReadOptions, line: int, row: Any, secret: bytes) -> Item:
    addr = parse_address(row.email, check_deliverability=options.check_deliverability)
    status = row.status.value if row.status else options.default_status
    needs_person = row.suppress is None or row.keep_person
    has_consent = options.has_consent or row.consent_detail is not None
    if status == "confirmed" and not has_consent and needs_person:
        raise RowProblem('status confirmed needs --consent-note "…" (where consent comes from)')
    return Item(
        line,
        addr.email,
        addr.key,
        hash_with(secret, addr.key),
        addr.is_role,
        options.target or row.list_slug,
        status,
        check_name(row.name),
        check_language(row.language) if row.language else None,
        json.dumps(row.attributes, ensure_ascii=False) if row.attributes else "{}",
        row.suppress.value if row.suppress else None,
        row.suppress_detail,
        row.keep_person,
        row.created_at,
        row.subscribed_at,
        row.confirmed_at,
        row.unsubscribed_at,
        row.consent_detail,
        check_timezone(row.timezone) if row.timezone else None,
    )


def _child_main() -> None:
    """Entry point of the reader process: options on stdin, pickled batches on stdout."""
    out = sys.stdout.buffer
    options = pickle.load(sys.stdin.buffer)
    languages.use_theme_dir(Path(options.theme_dir) if options.theme_dir else None)
    gc.disable()  # only short-lived, acyclic objects: collection passes are pure cost
    try:
        for batch in read_batches(options):
            pickle.dump(("batch", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
        message: tuple[str, Any] = ("done", None)
    except BadInput as exc:
        message = ("error", exc.problems)
    except Exception as exc:  # reported by the parent, which owns the terminal
        message = ("crash", f"{type(exc).__name__}: {exc}")
    pickle.dump(message, out)
    out.flush()


def batches(options: ReadOptions, src: CsvFile | JsonFile, *, parallel: bool) -> Iterator[Batch]:
    """``read_batches`` in this process, or in a child process when ``parallel``.

    The child is a plain ``python -m`` process rather than multiprocessing's
    spawn, which would re-import the caller's ``__main__``. A thread drains
    the pipe into a small queue: a pipe alone holds 64 KB, a tenth of a batch,
    and the two processes would take turns instead of working at once.
    """
    if not parallel:
        yield from read_batches(options, src)
        return
    src.close()
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        received: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=3)
        stop = threading.Event()
        drain = threading.Thread(target=_drain, args=(proc.stdout, received, stop), daemon=True)
        try:
            # The secret travels over the pipe, never on the command line.
            pickle.dump(options, proc.stdin)
            proc.stdin.close()
            drain.start()
            while True:
                kind, payload = received.get()
                if kind == "batch":
                    yield payload
                elif kind == "done":
                    return
                elif kind == "error":
                    raise ImportError_(payload)
                else:
                    proc.wait()
                    errors.seek(0)
                    detail = errors.read().decode(errors="replace").strip()[-500:]
                    raise RuntimeError(f"import reader failed: {payload or detail}")
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            drain.join(timeout=5) if drain.is_alive() else None
            proc.stdout.close()


def _drain(pipe: Any, out: queue.Queue[tuple[str, Any]], stop: threading.Event) -> None:
    """Unpickle messages from the reader process until it is done or we stop."""
    while not stop.is_set():
        try:
            message = pickle.load(pipe)
        except EOFError:
            message = ("died", None)
        except Exception as exc:  # a broken pipe after kill, or a corrupt stream
            message = ("died", f"{type(exc).__name__}: {exc}")
        while not stop.is_set():
            try:
                out.put(message, timeout=0.2)
                break
            except queue.Full:
                continue
        if message[0] != "batch":
            return


if __name__ == "__main__":
    # Run the imported module's copy, so pickled classes name their real module.
    from newsletter.subscribers.import_rows import _child_main as main

    main()
