"""Backups and restores that are consistent while the server, a sender and workers write.

Copying ``newsletter.sqlite`` with ``cp`` while anything runs is not a
backup: the latest commits live in the ``-wal`` file until a checkpoint,
and a copy taken mid-write can be torn. :func:`backup` uses SQLite's online
backup API instead: one read transaction copies every page as of one
moment (WAL lets the writers go on meanwhile), into a temporary file that
is checked, synced and renamed into place, so ``FILE`` is a complete
database or absent. On PostgreSQL it runs ``pg_dump --format=custom``
when ``pg_dump`` is on PATH (the same snapshot guarantee, from the server)
and otherwise says how to.

:func:`restore` (SQLite) refuses while any other process has the database
open, a backup at a schema revision this code does not know, and a backup
whose address hashes were made with a different secret key than the one
in place: restored without its key, every suppression of a forgotten
person would silently stop matching and old unsubscribe links would fail.
The replaced file is kept beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.config import read_secret
from newsletter.errors import BadInput, OperationFailed
from newsletter.lightdb import head_revision, known_revision

_HEADER = b"SQLite format 3\x00"
_FINGERPRINT = "secret_fingerprint"
SECRET_ENV = "NEWSLETTER_SECRET_KEY"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    revision: str | None
    bytes: int
    key_file: Path | None  # the key to keep with it (None: it comes from the environment)
    tool: str  # "sqlite backup API" or "pg_dump"


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    revision: str
    kept: Path | None  # the database the restore replaced, renamed


def backup(db: object, target: Path) -> BackupResult:
    """Write a consistent copy of ``db`` (a :class:`newsletter.db.Database`) to ``target``."""
    target = target.expanduser()
    if target.exists():
        raise BadInput(f"{target} exists; give a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BadInput(f"folder {target.parent} does not exist", file=str(target))
    path = db.sqlite_path  # type: ignore[attr-defined]
    key_file = None if os.environ.get(SECRET_ENV) else db.key_file  # type: ignore[attr-defined]
    if path is None:
        return _pg_dump(db, target, key_file)
    if not path.exists():
        raise BadInput(f"database {path} does not exist")
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(path)) as src:
            src.execute("PRAGMA busy_timeout = 60000")
            with contextlib.closing(sqlite3.connect(tmp)) as dst:
                src.backup(dst)  # all pages in one step: one snapshot, however busy
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                ok = dst.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise OperationFailed(f"the copy failed its check ({ok}); nothing written")
                revision = _revision(dst)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(target.parent)
    return BackupResult(target, revision, target.stat().st_size, key_file, "sqlite backup API")


def _pg_dump(db: object, target: Path, key_file: Path | None) -> BackupResult:
    url = db.url  # type: ignore[attr-defined]
    dump = shutil.which("pg_dump")
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    if dump is None:
        shown = url.set(drivername="postgresql").render_as_string(hide_password=True)
        raise OperationFailed(
            f"pg_dump is not on PATH; on PostgreSQL back up with: pg_dump --format=custom "
            f"--file {target} '{shown}' (and keep the secret key with it)"
        )
    tmp = target.with_name(f".{target.name}.partial")
    try:
        done = subprocess.run(
            [dump, "--format=custom", "--no-owner", f"--file={tmp}", f"--dbname={libpq}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OperationFailed(f"pg_dump failed: {done.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(target, db.revision(), target.stat().st_size, key_file, "pg_dump")  # type: ignore[attr-defined]


def restore(db: object, source: Path) -> RestoreResult:
    """Replace the SQLite database of ``db`` with the backup ``source``, after every check."""
    path = db.sqlite_path  # type: ignore[attr-defined]
    if path is None:
        raise OperationFailed(
            "restore works on the SQLite database; on PostgreSQL use: pg_restore --clean "
            f"--no-owner --dbname=URL {source}"
        )
    source = source.expanduser()
    revision, fingerprint = _inspect_backup(source)
    holders = _holders(path)
    if holders:
        raise OperationFailed(
            f"database {path} is in use by process {', '.join(map(str, holders))}; stop serve, "
            "senders and workers first, then restore"
        )
    _check_key(db, fingerprint, source)
    tmp = path.with_name(f".{path.name}.restoring")
    shutil.copyfile(source, tmp)
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        os.replace(path, kept)
    # A WAL left beside the old file belongs to it; applied to the new one it would corrupt it.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    _sync_dir(path.parent)
    return RestoreResult(path, revision, kept)


def _inspect_backup(source: Path) -> tuple[str, str | None]:
    """The backup's schema revision and key fingerprint; ``BadInput`` when it is no backup."""
    try:
        with source.open("rb") as f:
            header = f.read(len(_HEADER))
    except OSError as exc:
        raise BadInput(f"cannot read {source}: {exc.strerror}") from None
    if header != _HEADER:
        raise BadInput(f"{source} is not a SQLite database (a pg_dump file? use pg_restore)")
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as con:
        ok = con.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise BadInput(f"{source} is damaged ({ok}); take another backup")
        revision = _revision(con)
        row = con.execute(
            "SELECT value FROM newsletter_meta WHERE key = ?", (_FINGERPRINT,)
        ).fetchone()
    if revision is None:
        raise BadInput(f"{source} is not a newsletter database (no schema revision)")
    if not known_revision(revision):
        raise BadInput(
            f"{source} is at schema revision {revision}, newer than this version of newsletter "
            f"(it knows up to {head_revision()}); restore it with the version that made it"
        )
    return revision, row[0] if row else None


def _revision(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _check_key(db: object, fingerprint: str | None, source: Path) -> None:
    """Refuse a backup whose hashes were made with another key than the one in place."""
    if fingerprint is None:
        return
    key_file = db.key_file  # type: ignore[attr-defined]
    env = os.environ.get(SECRET_ENV) or os.environ.get(f"{SECRET_ENV}_FILE")
    if not env and not key_file.exists():
        raise OperationFailed(
            f"no secret key at {key_file}: put the key file backed up with {source.name} there "
            f"(or set ${SECRET_ENV}) first; without it old unsubscribe links and the "
            "suppressions of forgotten people would stop working"
        )
    value = read_secret(SECRET_ENV, file_setting=str(key_file)) or ""
    key = hashlib.sha256(value.encode("utf-8")).digest()
    if hashlib.blake2b(b"fingerprint", key=key, digest_size=16).hexdigest() != fingerprint:
        raise OperationFailed(
            f"{source.name} was made with a different secret key than the one at "
            f"{'$' + SECRET_ENV if env else key_file}; put the key backed up with it in place "
            "first"
        )


def _holders(path: Path) -> list[int]:
    """Other processes that have the database (or its WAL) open, from /proc where there is one.

    Elsewhere an exclusive lock is the test: it finds only a process in a
    transaction, so on such systems stop everything before restoring.
    """
    names = {str(path.resolve()), f"{path.resolve()}-wal"}
    proc = Path("/proc")
    if not proc.is_dir():
        return [] if _can_lock(path) else [0]
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in names:
                        found.append(int(entry.name))
                        break
    return sorted(found)


def _can_lock(path: Path) -> bool:
    if not path.exists():
        return True
    with contextlib.closing(sqlite3.connect(path, timeout=0)) as con:
        try:
            con.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            return False
        con.rollback()
    return True


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
