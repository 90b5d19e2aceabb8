"""Every database test runs on SQLite and on PostgreSQL: how a test gets its database.

Pick the backend for the whole run (SQLite is the default)::

    python -m pytest                                   # SQLite files in tmp_path
    NEWSLETTER_TEST_BACKEND=postgresql python -m pytest
    python -m pytest --backend postgresql              # the same

On PostgreSQL the session starts its own throwaway cluster (``pg_cluster.py``:
initdb + pg_ctl in a temp directory, Unix socket only, as the ``postgres``
user when run as root; about two seconds) and removes it at the end. The
server binaries come from ``/usr/lib/postgresql/*/bin`` (Debian's
``postgresql`` package), ``$NEWSLETTER_TEST_PG_BIN`` or ``PATH``.
``$NEWSLETTER_TEST_POSTGRESQL_URL`` (a superuser URL such as
``postgresql+psycopg://me@/postgres?host=/run/postgresql``) uses a server you
already run instead; the tests create and drop their own databases on it.

A new test never builds ``sqlite:///…`` by hand. It asks for one of these:

``database_url``
    The URL of this test's own database, already migrated to the head
    revision: a copy of a template (a file copy on SQLite, ``CREATE DATABASE
    … TEMPLATE`` on PostgreSQL), so it costs milliseconds. ``cli_run`` runs
    the CLI against it, ``db`` is a :class:`Database` on it, ``world`` builds
    its settings with it; use those when they fit.
``@pytest.mark.empty_database``
    Makes ``database_url`` (and so ``cli_run``) an empty database instead,
    for tests of first use and of ``db upgrade``; ``shown(database_url)`` is
    how the CLI names it in messages.
``new_database_url(name, migrated=True)``
    Another database for the same test (a restore target, say), or an empty
    one with ``migrated=False`` for tests of migrations and first use.
``backend``
    ``backend.name`` is ``"sqlite"`` or ``"postgresql"``, for the rare
    assertion that differs (an error text from the driver, say).

A test that is about SQLite itself (the WAL, the key file next to the
database file, the bytes of the file, SQLite locking) says so, and is skipped
on PostgreSQL with the reason shown::

    @pytest.mark.sqlite_only("reads the SQLite file's bytes")

A test that needs PostgreSQL (EXPLAIN plans, COPY) is marked
``@pytest.mark.postgresql_only`` and skipped on the SQLite run; CI runs both.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_cluster import Cluster, ClusterError, find_bindir

from newsletter.db import Database

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "Backend",
    "backend",
    "database_url",
    "durable_commits",
    "new_database_url",
    "shown",
]

BACKEND_ENV = "NEWSLETTER_TEST_BACKEND"
SERVER_ENV = "NEWSLETTER_TEST_POSTGRESQL_URL"
BACKENDS = ("sqlite", "postgresql")
_TEMPLATE = "newsletter_template"


class Backend:
    """Makes databases for tests on one backend; one instance per session."""

    name: str

    def create(self, tmp_path: Path, name: str, *, migrated: bool) -> str:
        """A new database's URL: a copy of the migrated template, or empty."""
        raise NotImplementedError

    def start(self) -> None:
        """Get ready to create databases: start the server, build the template."""
        raise NotImplementedError

    def drop(self, url: str) -> None:
        """Remove a database made by :meth:`create` once its test is over."""

    def close(self) -> None:
        """Remove everything the session made."""


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self._template: Path | None = None
        self._scratch: Path | None = None

    def create(self, tmp_path: Path, name: str, *, migrated: bool) -> str:
        path = tmp_path / f"{name}.sqlite"
        if path.exists():
            raise ValueError(f"this test already has a database called {name!r}")
        if migrated:
            shutil.copyfile(self.template(), path)
        return f"sqlite:///{path}"

    def start(self) -> None:
        """Nothing to start: the template file is made when a test first needs it."""

    def template(self) -> Path:
        if self._template is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="newsletter-sqlite-template-"))
            path = self._scratch / "template.sqlite"
            migrate(f"sqlite:///{path}")
            self._template = path
        return self._template

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


class PostgresBackend(Backend):
    """Databases on a throwaway cluster (or the server in ``$NEWSLETTER_TEST_POSTGRESQL_URL``)."""

    name = "postgresql"

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self._server_url = os.environ.get(SERVER_ENV)
        self._admin: sa.Engine | None = None
        self._migrated = False
        self._numbers = itertools.count(1)
        # Databases of concurrent runs on one shared server must not collide.
        self._prefix = f"nltest_{os.getpid()}"

    def admin(self) -> sa.Engine:
        if self._admin is None:
            if self._server_url:
                self._admin = sa.create_engine(
                    self._server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
                )
            else:
                bindir = find_bindir()
                if bindir is None:
                    raise ClusterError(
                        "no PostgreSQL server binaries found: install postgresql (Debian) "
                        f"or set $NEWSLETTER_TEST_PG_BIN or ${SERVER_ENV}"
                    )
                self.cluster = Cluster(bindir)
                try:
                    self.cluster.start()
                except ClusterError:
                    self.cluster.stop()
                    self.cluster = None
                    raise
                self._admin = self.cluster.admin()
        return self._admin

    def start(self) -> None:
        self.admin()
        self.template()

    def _url(self, database: str) -> str:
        base = sa.make_url(self._server_url) if self._server_url else None
        if base is None:
            assert self.cluster is not None
            return self.cluster.url(database)
        return base.set(database=database).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self.admin().connect() as connection:
            connection.exec_driver_sql(sql)

    def create(self, tmp_path: Path, name: str, *, migrated: bool) -> str:
        database = f"{self._prefix}_{next(self._numbers)}_{name}".lower()
        if migrated:
            template = self.template()
            self._execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        else:
            self._execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
        return self._url(database)

    def template(self) -> str:
        name = f"{self._prefix}_{_TEMPLATE}"
        if not self._migrated:
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            migrate(self._url(name))
            self._migrated = True
        return name

    def drop(self, url: str) -> None:
        database = sa.make_url(url).database
        # FORCE ends connections a test left open in an engine it never disposed.
        self._execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def close(self) -> None:
        if self._admin is not None and self._server_url and self._migrated:
            self._execute(f'DROP DATABASE IF EXISTS "{self.template()}" WITH (FORCE)')
        if self.cluster is not None:
            self.cluster.stop()


def migrate(url: str) -> None:
    database = Database(url)
    try:
        database.upgrade()
    finally:
        database.dispose()


def selected_backend(config: pytest.Config) -> str:
    name = config.getoption("backend") or os.environ.get(BACKEND_ENV) or "sqlite"
    if name not in BACKENDS:
        raise pytest.UsageError(
            f"unknown database backend {name!r} (from --backend or ${BACKEND_ENV}); "
            f"choose one of: {', '.join(BACKENDS)}"
        )
    return name


_BACKEND = pytest.StashKey[Backend]()


def open_backend(config: pytest.Config) -> None:
    """Start the selected backend before the first test (conftest's sessionstart).

    Starting the PostgreSQL cluster up front turns a broken set-up into one
    message and exit status instead of every database test failing alike.
    """
    chosen: Backend = (
        PostgresBackend() if selected_backend(config) == "postgresql" else SQLiteBackend()
    )
    config.stash[_BACKEND] = chosen
    try:
        chosen.start()
    except ClusterError as exc:
        pytest.exit(f"cannot start the PostgreSQL test cluster: {exc}", returncode=1)


def close_backend(config: pytest.Config) -> None:
    chosen = config.stash.get(_BACKEND, None)
    if chosen is not None:
        chosen.close()


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend this run tests on (``--backend`` / ``$NEWSLETTER_TEST_BACKEND``)."""
    return request.config.stash[_BACKEND]


@pytest.fixture
def new_database_url(backend: Backend, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``@pytest.mark.empty_database``
        Makes ``database_url`` (and so ``cli_run``) an empty database instead,
        for tests of first use and of ``db upgrade``; ``shown(database_url)`` is
        how the CLI names it in messages.
    ``new_database_url(name, migrated=True)``: one more database for this test."""
    made: list[str] = []

    def make(name: str = "newsletter", *, migrated: bool = True) -> str:
        url = backend.create(tmp_path, name, migrated=migrated)
        made.append(url)
        return url

    yield make
    for url in made:
        backend.drop(url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, new_database_url: Callable[..., str]) -> str:
    """This test's own database (``tmp_path/newsletter.sqlite`` on SQLite), migrated to head.

    Empty instead (no file on SQLite) for a test marked ``empty_database``.
    """
    empty = request.node.get_closest_marker("empty_database") is not None
    return new_database_url("newsletter", migrated=not empty)


def shown(url: str) -> str:
    """How the CLI run by ``cli_run`` names the test's database in its messages."""
    if url.startswith("sqlite:"):
        return "sqlite:///newsletter.sqlite"  # the default, relative to the working directory
    database = Database(url)
    database.dispose()
    return database.display


def durable_commits(backend: Backend, database: Database) -> None:
    """Commits to ``database`` survive a crash of the server, as by default.

    The tests' cluster commits asynchronously (tests/pg_cluster.py), so a crash loses the
    last fraction of a second of commits: a test that crashes the server needs them durable.
    """
    name = database.engine.url.database
    with backend.admin().connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    database.dispose()
