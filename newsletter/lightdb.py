"""A read-only ``sqlite3`` connection for the commands that must answer at once.

``campaigns show`` answers in a few milliseconds of SQL; importing SQLAlchemy
takes several times that, so on SQLite (the embedded default) it reads through
the standard library's driver. Only the plain case is taken: a ``sqlite:///``
URL naming a file that exists, at the schema revision this code expects.
Everything else (a new file, an old or newer schema, PostgreSQL, a URL with
options) goes through :class:`newsletter.db.Database`, which says what is
wrong or migrates; this module never writes.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from pathlib import Path

# How long a connection waits for another process's lock (newsletter/db/locks.py says more).
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("db") / "migrations"  # Alembic's script folder
_MIGRATION_FILE = re.compile(r"(\d{4})_\w+\.py")
_PLAIN_SQLITE = re.compile(r"sqlite(?:\+pysqlite)?:///([^?#%]+)")


@cache
def revisions() -> tuple[str, ...]:
    """Every schema revision this code knows, oldest first, e.g. ``("0001", "0002")``.

    Read from the migration file names (``versions/NNNN_purpose.py`` holds
    revision ``NNNN``), so checking a database's revision on every command
    needs no Alembic; ``tests/test_migrations.py`` fails when a name and the
    script's own ``revision``/``down_revision`` chain disagree.
    """
    names = (p.name for p in (MIGRATIONS / "versions").iterdir())
    return tuple(sorted(m[1] for m in map(_MIGRATION_FILE.fullmatch, names) if m))


def head_revision() -> str:
    """The revision this code expects, e.g. ``"0001"``."""
    return revisions()[-1]


def known_revision(revision: str) -> bool:
    """Whether this version of the code has migration ``revision`` (an older one may not)."""
    return revision in revisions()


def sqlite_reader(url: str) -> sqlite3.Connection | None:
    """A query-only connection to the SQLite file of ``url``, or None to take the long way."""
    match = _PLAIN_SQLITE.fullmatch(url)
    if match is None or match[1] == ":memory:":
        return None
    path = Path(match[1]).expanduser()
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA query_only = ON")
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except (sqlite3.Error, TypeError):  # not a database, no schema yet, an empty table
        connection.close()
        return None
    if revision != head_revision():
        connection.close()
        return None
    return connection
