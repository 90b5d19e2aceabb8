"""A throwaway PostgreSQL cluster for one test session: initdb + pg_ctl in a temp directory.

The server listens only on a Unix socket inside that directory (no TCP at
all), trusts local connections, and runs with ``fsync=off``: it holds
nothing worth keeping, and the whole directory is removed at the end.

initdb refuses to run as root (CI runs as root), so as root the server runs
as the ``postgres`` system user the Debian package creates (or the user in
``$NEWSLETTER_TEST_PG_USER``), in a directory that user owns. Root can still
reach the socket. Anything that goes wrong is a :class:`ClusterError` that
names the step and shows the server log, so a broken set-up is one clear
message rather than 400 failing tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

__all__ = ["Cluster", "ClusterError", "durable_cluster", "find_bindir"]

SUPERUSER = "newsletter"
_SERVER_SETTINGS = {"listen_addresses": "''", "max_connections": "300"}
# Durability is pointless for a cluster deleted at the end of the run; these
# make CREATE DATABASE and every commit a memory operation.
_FAST = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "1h",
}


class ClusterError(RuntimeError):
    """The test cluster could not be created or started."""


def find_bindir() -> Path | None:
    """The PostgreSQL server binaries: ``$NEWSLETTER_TEST_PG_BIN``, Debian's newest, or PATH."""
    explicit = os.environ.get("NEWSLETTER_TEST_PG_BIN")
    if explicit:
        return Path(explicit)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _server_user() -> str | None:
    """Who runs the server: nobody special, unless we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("NEWSLETTER_TEST_PG_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ClusterError(
            f"running as root, and initdb refuses root; there is no user {name!r} to run the "
            "test server as. Install PostgreSQL from Debian (it creates 'postgres') or set "
            "$NEWSLETTER_TEST_PG_USER to an unprivileged user."
        ) from None
    return name


class Cluster:
    """One initdb'd, started cluster; ``url(name)`` points at a database in it.

    ``durable=True`` keeps PostgreSQL's default fsync and commit settings, for
    benchmarks whose figures should hold on a real server.
    """

    def __init__(self, bindir: Path, *, durable: bool = False):
        self.bindir = bindir
        self.settings = _SERVER_SETTINGS if durable else {**_SERVER_SETTINGS, **_FAST}
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.started = False

    def _run(self, step: str, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
        except FileNotFoundError as exc:
            raise ClusterError(f"{step}: {exc}") from exc
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise ClusterError(
                f"{step} failed ({' '.join(command)}):\n{exc.stdout}{exc.stderr}{log}"
            ) from exc

    def start(self) -> None:
        self._run(
            "initdb",
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            # Byte order, as SQLite sorts; C.UTF-8 still knows what lower('Ä') is.
            "--lc-collate",
            "C",
            "--lc-ctype",
            "C.UTF-8",
            "--no-sync",
        )
        self.start_server()
        self.started = True

    def restart(self, down_seconds: float = 1.0) -> None:
        """Crash the server (``pg_ctl stop -m immediate``), stay down a moment, start it again.

        What a lost database server looks like to its clients: every connection breaks,
        and new ones are refused until it is back.
        """
        self.crash()
        time.sleep(down_seconds)
        self.start_server()

    def crash(self) -> None:
        """Stop the server at once (``-m immediate``: no checkpoint, as if it crashed)."""
        self._run("pg_ctl stop", "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def start_server(self) -> None:
        """Start the initdb'd server (again)."""
        options = " ".join(f"-c {key}={value}" for key, value in self.settings.items())
        self._run(
            "pg_ctl start",
            "pg_ctl",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--wait",
            "--options",
            f"-k {self.root} {options}",
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        """A psycopg 3 URL for ``database`` over the cluster's socket."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}"

    def admin(self) -> sa.Engine:
        """An autocommit engine on the maintenance database, for CREATE/DROP DATABASE."""
        return sa.create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl stop", "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def durable_cluster() -> Iterator[Cluster]:
    """A started cluster with PostgreSQL's default durability, for the benchmarks; stopped after.

    Exits with the install hint when the server binaries are missing (a benchmark, unlike a
    test, has nothing to skip to).
    """
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql")
    server = Cluster(bindir, durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
