"""``newsletter db``: schema upgrades; and how every subscriber command opens the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
