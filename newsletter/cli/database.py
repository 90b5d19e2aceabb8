"""``newsletter db``: schema upgrades; and how every subscriber command opens the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.db import Database, head_revision, known_revision

if TYPE_CHECKING:
    from sqlmodel import Session  # db status and upgrade need no ORM


@contextmanager
def session(app: App, *, create: bool = False) -> Iterator[Session]:
    """A committed-on-success session on the configured database (migrated if empty).

    Only commands that store something new pass ``create``: a mistyped path
    must not leave an empty database (and a new key) behind.
    """
    db = Database.from_settings(app.settings, create=create)
    try:
        with db.session() as s:
            yield s
    finally:
        db.dispose()


@cli.group("db")
def db_group() -> None:
    """Manage the subscriber database (SQLite by default, or PostgreSQL).

    \b
    Examples:
      newsletter db upgrade
      newsletter --database sqlite:///other.sqlite db upgrade
      NEWSLETTER_DATABASE_URL=postgresql+psycopg://newsletter@db.example.org/newsletter \
        newsletter db status
    """


@db_group.command("upgrade")
@pass_app
def upgrade_cmd(app: App) -> None:
    """Bring the database schema up to date (safe to run any time).

    Creates the database if it does not exist yet (in a folder that does);
    an existing one is only changed by this command, so take a backup first.

    \b
    Example:
      newsletter db upgrade
    """
    db = Database.from_settings(app.settings, upgrade=False)
    try:
        before, after = db.upgrade()
    finally:
        db.dispose()
    if before == after:
        click.echo(f"{db.display}: already at revision {after} (latest).")
    else:
        click.echo(f"{db.display}: upgraded from {before or 'empty'} to {after}.")


@db_group.command("status")
@pass_app
def status_cmd(app: App) -> None:
    """Show the database URL and its schema revision.

    \b
    Example:
      newsletter db status
    """
    db = Database.from_settings(app.settings, upgrade=False, create=False)
    try:
        current = db.revision()
    finally:
        db.dispose()
    head = head_revision()
    if current == head:
        state = "up to date"
    elif current is not None and not known_revision(current):
        state = f"newer than this version of newsletter (which knows up to {head})"
    else:
        state = f"needs upgrade to {head}"
    click.echo(f"{db.display}: revision {current or 'none (empty)'}, {state}.")


@db_group.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_app
def backup_cmd(app: App, file: Path) -> None:
    """Write a consistent copy of the database to FILE, while everything keeps running.

    SQLite: the online backup API copies one moment's state, including what
    is still in the -wal file, while serve, senders and workers go on
    writing (never copy the .sqlite file with cp). PostgreSQL: runs
    pg_dump --format=custom when it is on PATH. Keep the secret key file
    with the backup: without it, the links in mail already sent cannot be
    verified. See docs/deployment.md (Backups).

    \b
    Examples:
      newsletter db backup backups/newsletter-$(date +%F).sqlite
      newsletter db restore backups/newsletter-2026-12-07.sqlite
    """
    from newsletter.db.backup import backup

    db = Database.from_settings(app.settings, upgrade=False, create=False)
    try:
        done = backup(db, file)
    finally:
        db.dispose()
    click.echo(
        f"Backed up {db.display} (revision {done.revision or 'none'}) to {done.path} "
        f"({done.bytes / 1_000_000:.1f} MB, {done.tool})."
    )
    if done.key_file is not None:
        click.echo(
            f"Keep the secret key with it: {done.key_file} (without it old unsubscribe links "
            "cannot be verified)."
        )
    else:
        click.echo("Keep the secret key ($NEWSLETTER_SECRET_KEY) with it.")


@db_group.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_app
def restore_cmd(app: App, file: Path) -> None:
    """Replace the SQLite database with the backup FILE (the old one is kept beside it).

    Refuses while another process (serve, a sender, a worker) has the
    database open, a backup of a newer schema than this version knows, and
    a backup made with a different secret key than the one in place (put
    the key file backed up with it next to the database first). On
    PostgreSQL use pg_restore.

    \b
    Example:
      newsletter db restore backups/newsletter-2026-12-07.sqlite
    """
    from newsletter.db.backup import restore

    db = Database.from_settings(app.settings, upgrade=False, create=True)
    db.dispose()
    done = restore(db, file)
    click.echo(f"Restored {file} (revision {done.revision}) into {done.path}.")
    if done.kept is not None:
        click.echo(f"The database it replaced is kept as {done.kept}.")
    if done.revision != head_revision():
        click.echo(
            f"Bring its schema up to date with: newsletter db upgrade (to {head_revision()})"
        )
