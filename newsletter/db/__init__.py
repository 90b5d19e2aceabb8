"""Engine, sessions, migrations and the secret key of one subscriber database.

Everything that touches the database goes through a :class:`Database`, so the
SQLite settings that make it safe (WAL, foreign keys, secure delete) and the
schema check cannot be forgotten by a caller::

    db = Database.from_settings(settings)
    with db.session() as session:
        for subscriber in recipients(session, "news"):
            ...

A SQLite file is created only when the caller allows it (``create``) and its
folder exists, so a mistyped path is an error instead of an empty database.
A fresh database is migrated on first use; an older one must be upgraded
explicitly with ``newsletter db upgrade`` so nobody migrates production data
by accident. The secret key's rules (where it comes from, its fingerprint in the
database) are :mod:`newsletter.db.secretkey`; :attr:`Database.secret` loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from newsletter.config import Settings
from newsletter.db.locks import BUSY_TIMEOUT_MS
from newsletter.db.secretkey import SECRET_ENV, load_secret
from newsletter.errors import ConfigError, OperationFailed, redact
from newsletter.hashing import hash_with
from newsletter.lightdb import MIGRATIONS, head_revision, known_revision, revisions

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session

__all__ = [
    "SECRET_ENV",
    "Database",
    "DatabaseError",
    "database_of",
    "driver_message",
    "hash_with",
    "head_revision",
    "key_hash",
    "known_revision",
    "revisions",
]


class DatabaseError(OperationFailed):
    """The database cannot be opened or is at the wrong schema revision."""


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config  # only for upgrades: loading Alembic costs ~0.2 s

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _newer_schema(db: Database, current: str) -> DatabaseError:
    return DatabaseError(
        f"database {db.display} is at schema revision {current}, which this version of "
        f"newsletter does not know (it knows up to {head_revision()}): the database was "
        "upgraded by a newer version. Use that version, or restore a backup made before."
    )


def driver_message(exc: BaseException) -> str:
    """The driver's own words for a database error, on one line.

    libpq adds hint lines ("Is the server running locally …?") and DETAIL
    lines; an error message is one line, so they are joined, not dropped.
    """
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # secure_delete zeroes freed pages so a forgotten address leaves no
    # bytes behind; WAL lets readers work during a long import.
    cursor = dbapi_connection.cursor()
    for pragma in (
        # First, so the pragmas below wait too: another process's write lock
        # (a backup, an import) is waited out instead of failing at once;
        # longer locks are handled by db.locks.retry_locked.
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA secure_delete=ON",
        "PRAGMA synchronous=NORMAL",
    ):
        cursor.execute(pragma)
    cursor.close()


class Database:
    """One database URL plus the secret key its address hashes are made with."""

    def __init__(
        self,
        url: str,
        *,
        key_file: Path | None = None,
        base_dir: Path | None = None,
        create: bool = True,
    ):
        """Open ``url``; a missing SQLite file is created only with ``create`` and in a folder
        that exists, so a typo in a path is reported instead of starting an empty database."""
        try:
            self.url = make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            raise ConfigError(
                f"not a database URL: {redact(url)!r} "
                "(expected e.g. sqlite:///newsletter.sqlite or postgresql://user@host/db)"
            ) from None
        self.base_dir = base_dir or Path.cwd()
        self._key_file = key_file
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and (self.url.database or "").startswith("~"):
            # SQLite would take "~" as a directory name; the key file and the
            # parent directory are placed by the expanded path, so open that.
            self.url = self.url.set(database=str(Path(self.url.database).expanduser()))  # type: ignore[arg-type]
        if self.sqlite_path is not None:
            _check_sqlite_file(self.sqlite_path, create=create)
        try:
            self.engine = sa.create_engine(self.url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"cannot use database URL {self.display}: {exc}") from None
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # psycopg warns on stderr about a connection it lost ("error ignored terminating
            # <psycopg.Pipeline>"); the error that follows says what happened, in one line.
            # Where logging is configured (a worker's log), the warning still goes there.
            logging.getLogger("psycopg").addHandler(logging.NullHandler())

    @classmethod
    def from_settings(
        cls, settings: Settings, *, upgrade: bool = True, create: bool = True
    ) -> Database:
        """Open the configured database, creating the schema if it is empty.

        ``upgrade=False`` skips the schema check (``newsletter db upgrade``
        uses it to do the upgrade itself); ``create=False`` refuses a SQLite
        file that does not exist yet (commands that only read pass it).
        """
        db = cls(settings.database_url, base_dir=settings.base_dir, create=create)
        if upgrade:
            db.ensure_schema()
        return db

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or self.url.database in (None, "", ":memory:"):
            return None
        return Path(self.url.database).expanduser()

    @property
    def display(self) -> str:
        """The URL without its password, for messages."""
        return self.url.render_as_string(hide_password=True)

    # -- schema ---------------------------------------------------------

    def revision(self) -> str | None:
        """The schema revision the database is at; None when it is empty."""
        try:
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table("alembic_version"):
                    return None
                query = "SELECT version_num FROM alembic_version"
                return connection.exec_driver_sql(query).scalar()
        except sa.exc.OperationalError as exc:
            raise DatabaseError(
                f"cannot open database {self.display}: {driver_message(exc)}"
            ) from exc

    def upgrade(self, target: str = "head") -> tuple[str | None, str | None]:
        """Migrate to ``target``; returns (revision before, revision after)."""
        before = self.revision()
        if before is not None and not known_revision(before):
            raise _newer_schema(self, before)
        from alembic import command

        try:
            with self._migrating() as connection:
                command.upgrade(_alembic_config(connection), target)
        except sa.exc.OperationalError as exc:
            raise DatabaseError(
                f"cannot migrate database {self.display}: {driver_message(exc)}"
            ) from exc
        return before, self.revision()

    def downgrade(self, target: str) -> None:
        from alembic import command

        with self._migrating() as connection:
            command.downgrade(_alembic_config(connection), target)

    @contextmanager
    def _migrating(self) -> Iterator[sa.Connection]:
        """One transaction for migrations; on SQLite with foreign keys off while they run.

        SQLite changes a column by rebuilding its table (alembic's batch mode:
        copy, DROP, rename), and with foreign keys on, the DROP runs the ON
        DELETE actions of every table that references it: rebuilding
        ``campaign`` would empty the delivery log. So, as SQLite's own
        procedure for schema changes says, they are off (which only works
        outside a transaction) and checked before the commit.
        """
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    yield connection
                    if self.is_sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise DatabaseError(
                                f"migrating {self.display} would break {len(broken)} "
                                f"reference(s), e.g. in table {broken[0][0]}; nothing was changed"
                            )
            finally:
                if self.is_sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    def ensure_schema(self) -> None:
        """Create the schema in an empty database; refuse to run on an old one."""
        current = self.revision()
        head = head_revision()
        if current == head:
            return
        if current is None:
            self.upgrade()
            return
        if not known_revision(current):
            raise _newer_schema(self, current)
        raise DatabaseError(
            f"database {self.display} is at schema revision {current}, this version "
            f"needs {head}; back it up, then run: newsletter db upgrade"
        )

    # -- sessions -------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on error.

        Library functions look up the secret key through ``session.info``;
        a function may set ``session.info["checkpoint"]`` to have the SQLite
        WAL folded into the main file after the commit (``forget`` does).
        """
        # Resolve the key before any write: checking its fingerprint needs a
        # connection of its own, which would wait on this session's lock.
        self.secret  # noqa: B018
        from sqlmodel import Session  # the ORM, only for commands that use it

        with Session(self.engine, expire_on_commit=False) as session:
            session.info["database"] = self
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
        if session.info.get("checkpoint"):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Move the SQLite WAL into the main file and truncate it to zero bytes."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the secret key -------------------------------------------------

    @property
    def key_file(self) -> Path:
        """Where the generated key lives: next to a SQLite file, else the config dir."""
        if self._key_file is not None:
            return self._key_file
        if self.sqlite_path is not None:
            return self.sqlite_path.with_name(self.sqlite_path.name + ".key")
        return self.base_dir / "newsletter.key"

    @cached_property
    def secret(self) -> bytes:
        """The key for address hashes (:func:`newsletter.db.secretkey.load_secret`)."""
        return load_secret(self.engine, self.key_file)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(path: Path, *, create: bool) -> None:
    """A readable message where SQLite would fail later with a traceback (or create a file)."""
    if path.exists():
        try:
            with path.open("rb") as f:
                header = f.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise DatabaseError(f"cannot open database {path}: {exc.strerror}") from None
        if header and header != _SQLITE_HEADER:
            raise ConfigError(f"{path} is not a SQLite database")
        return
    if not path.parent.is_dir():
        raise ConfigError(f"database {path} cannot be created: folder {path.parent} does not exist")
    if not create:
        raise ConfigError(
            f"database {path} does not exist; create it with: newsletter db upgrade "
            "(or by creating a list or importing subscribers)"
        )


def database_of(session: Session) -> Database:
    """The :class:`Database` a session came from (needed for the secret key)."""
    db = session.info.get("database")
    if db is None:
        raise RuntimeError("open sessions with Database.session(), not Session(engine)")
    return db


def key_hash(session: Session, key: str) -> str:
    """The keyed hash of an address key, as stored in ``key_hash`` columns."""
    return hash_with(database_of(session).secret, key)
