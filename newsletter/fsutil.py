"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The same for a whole folder (:func:`publish_folder`, the static archive).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TextIO

from newsletter.errors import OperationFailed


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (threads may be writing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(
    path: Path, data: str | bytes, mode: int | None = None, *, durable: bool = True
) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    Without ``mode`` the file gets what ``open()`` would give it (0666 less the
    umask), not the 0600 of the temporary file: rendered issues are served.
    ``durable=False`` skips the fsync, for output that is rebuilt by running
    the command again (``render``): the rename alone keeps every reader from
    seeing half a file; the fsync only protects against a power cut, at
    about 1 ms a file (a third of rendering the 18 ISA issues).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # names the folder, not the temporary file it could not make
        _reraise(path, exc)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _reraise(path, exc)
        raise


def _reraise(path: Path, exc: OSError) -> NoReturn:
    failed = write_error(path, exc)
    if failed is exc:
        raise exc
    raise failed from exc


class WriteFailed(OperationFailed, OSError):
    """Writing a file failed for a reason its user can fix; the message says how.

    Still an ``OSError`` (with the ``errno`` and the file), so code that handles
    file errors keeps doing so.
    """

    def __init__(self, message: str, cause: OSError, path: Path):
        super().__init__(message)
        self.message = message
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, str(path)

    def __str__(self) -> str:
        return self.message


# Errors whose fix the message can name; the others (a file where a folder should be …)
# keep the OS's own words with the path the OS names.
_FIXABLE = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(path: Path, exc: OSError) -> OSError:
    """``exc`` from writing ``path`` as a message that names the file and says what to do.

    The OS's own words name a temporary file or nothing at all (a full disk
    fails in ``write``, which knows no file name).
    """
    if exc.errno not in _FIXABLE:
        return exc
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some space, or write somewhere else, and run the command again"
    else:
        hint = f"make the folder {path.parent} writable, or choose another folder"
    return WriteFailed(f"cannot write {path}: {reason}; {hint}", exc, path)


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A text stream whose content replaces ``path`` only once all of it is written.

    A failure (a full disk, Ctrl-C) leaves the old file as it was and no
    partial one. A path that is not a regular file (``/dev/stdout``, a FIFO,
    ``/dev/full``) is written in place. Errors name ``path``.
    """
    if path.exists() and not path.is_file():
        try:
            with path.open("w", encoding="utf-8", newline="") as out:
                yield out
        except OSError as exc:
            _reraise(path, exc)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        _reraise(path, exc)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _reraise(path, exc)
        raise


def publish_folder(files: Mapping[str, bytes], path: Path, *, marker: str) -> Path:
    """Make ``path`` show exactly ``files``, switched over in one step for every reader.

    ``path`` is a symbolic link to a build folder in ``.<name>.builds/`` beside
    it. Each call writes a new build folder, then renames a new link over the
    old one: ``rename(2)`` replaces it atomically, so a reader (or a static web
    server) always finds the old files or the new ones, never a missing
    folder or half of each. The build before the new one is kept until the
    next call, for a reader in the middle of a page; older ones are deleted.

    An existing ``path`` is replaced only if it is ours: our link, or a folder
    holding ``marker`` (what earlier versions wrote, swapped for a link once).
    Anything else raises ``OperationFailed``, so a typo cannot delete a folder.
    Returns the new build folder.
    """
    import fcntl

    path = Path(os.path.abspath(path))  # not resolve(): path is a link we replace
    builds = path.with_name(f".{path.name}.builds")
    builds.mkdir(parents=True, exist_ok=True)
    with open(builds / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once take turns
        previous = _current_build(path, builds, marker)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        new = Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=builds))
        link = path.with_name(f".{path.name}.link-{os.getpid()}-{new.name}")
        try:
            _write_tree(new, files)
            os.symlink(os.path.relpath(new, path.parent), link)
            if path.is_dir() and not path.is_symlink():
                # Once, from the layout before links (or an empty folder): a
                # folder cannot be swapped for a link in one rename.
                if any(path.iterdir()):
                    previous = builds / f"{stamp}-before-links"
                    os.rename(path, previous)
                else:
                    path.rmdir()
            os.replace(link, path)
        except BaseException:
            link.unlink(missing_ok=True)
            shutil.rmtree(new, ignore_errors=True)
            raise
        for old in builds.iterdir():
            if old.name != ".lock" and old not in (new, previous):
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    return new


def _current_build(path: Path, builds: Path, marker: str) -> Path | None:
    """The build ``path`` shows now (``None`` if none), or ``OperationFailed`` if not ours."""
    refuse = OperationFailed(
        f"{path} exists and is not an archive built by newsletter; choose an empty or new folder"
    )
    if path.is_symlink():
        target = Path(os.path.normpath(path.parent / os.readlink(path)))
        if target.parent != builds:
            raise refuse
        return target if target.is_dir() else None
    if not path.exists():
        return None
    if not path.is_dir():
        raise refuse
    if (path / marker).is_file() or not any(path.iterdir()):
        return None
    raise refuse


def _write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    """Write every file and flush it to disk before the link may point at them."""
    mask = _umask()
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(target, 0o666 & ~mask)
    root.chmod(0o777 & ~mask)
