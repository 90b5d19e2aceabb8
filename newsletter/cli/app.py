"""The root ``newsletter`` group, its per-invocation state and the lazy command table.

Commands parse arguments, call one library function, and print. Library
errors become exit codes here and nowhere else: 0 ok, 1 operation failed,
2 bad input.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter import __version__
from newsletter.errors import NewsletterError, redact

if TYPE_CHECKING:
    from newsletter.config import Settings


class App:
    """Per-invocation state: settings are loaded only when a command needs them."""

    def __init__(self, config: Path | None, database: str | None):
        self.config_path = config
        self.database = database

    @cached_property
    def settings(self) -> Settings:
        from newsletter.config import load_settings  # not needed for --help or --version

        s = load_settings(self.config_path)
        if self.database:
            from dataclasses import replace

            s = replace(s, database_url=self.database)
        return s


pass_app = click.make_pass_decorator(App)

# Which module defines each top-level command. Modules are imported only when
# their command runs (or help lists it): `newsletter render` must not pay for
# SQLAlchemy, Alembic and the SMTP stack at start-up.
LAZY_COMMANDS: dict[str, str | tuple[str, ...]] = {
    "new": "issues",
    "check": "issues",
    "render": "issues",
    "lists": "lists",
    "subscribers": (
        "subscribers.people",
        "subscribers.files",
        "subscribers.gdpr",
        "subscribers.invites",
    ),
    "suppressions": "suppressions",
    "segments": "segments",
    "db": "database",
    "campaigns": ("campaigns", "campaign_show", "schedule"),
    "send": "delivery",
    "log": "delivery",
    "demo": "demo",
    "doctor": "doctor",
    "inbound": "inbound",
    "bounces": "inbound",
    "serve": "web",
    "archive": "web",
    "screenshot": "workbench",
    "preview": "workbench",
    "worker": "workers",
}

# The first sentence of each lazy command's help, so `newsletter --help` lists
# them without importing any; tests/test_startup.py checks each against the
# command's own docstring. A command missing here is imported to list it.
COMMAND_HELP: dict[str, str] = {
    "archive": "The public web archive of sent issues, as static files.",
    "bounces": "Review the bounce log and undo a suppression it caused.",
    "campaigns": "Create, send and follow campaigns (one issue to one list).",
    "check": "Validate issue files and report every problem as FILE:LINE:COL.",
    "db": "Manage the subscriber database (SQLite by default, or PostgreSQL).",
    "demo": "Run the whole pipeline on sample data into a Maildir outbox.",
    "doctor": "Check SPF, DKIM, DMARC, PTR, MX, the relay and one-click unsubscribe.",
    "inbound": "Read bounces, complaints and unsubscribe mails from mailboxes.",
    "lists": "Mailing lists: who can subscribe to what.",
    "log": "The delivery log of a campaign: one row per recipient, replies verbatim.",
    "new": "Scaffold issues/MONTH.yaml from the structure of the previous issue.",
    "preview": "A live preview of ISSUE: desktop, phone, dark mode and plain text side by side.",
    "render": "Render issue files to HTML and plain text.",
    "screenshot": "Take full-page PNG screenshots of ISSUE in headless Chromium.",
    "segments": "Saved subscriber filters: a campaign to part of a list, without SQL.",
    "send": "Send one proof of ISSUE exactly as subscribers would get it.",
    "serve": "Serve unsubscribe, preferences, sign-up and the archive (Starlette on uvicorn).",
    "subscribers": "People who receive the newsletter, with their consent and history.",
    "suppressions": "The suppression list: addresses that get no mail from any list.",
    "worker": "Send campaigns handed to workers, and start scheduled ones, until stopped.",
}


def _failure(exc: Exception, database: str | None = None) -> tuple[str, int] | None:
    """The message and exit code of an error we can explain, or None for a bug.

    The one place errors become exit codes (as pip does in its ``main``): a
    library error knows its code; a file system or database error is the
    world's fault (exit 1). A traceback is shown only with ``--debug``.
    """
    if isinstance(exc, NewsletterError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        message, code = f"{where}: {exc.strerror or exc}" if where else str(exc), 1
    elif _is_database_error(exc):
        from newsletter.db.locks import BUSY_TIMEOUT_MS, is_locked  # SQLAlchemy is loaded now

        if is_locked(exc):
            # SQLite's bare "database is locked" names neither the wait nor what to do
            message = (
                f"the database stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s "
                "(a backup, a long import or a sender?); what this command had not committed "
                "was rolled back: run it again when the other one is done"
            )
            return f"Error: {message}", 1
        # One line: libpq appends hint and DETAIL lines (db.driver_message, not imported here).
        driver = " ".join(str(getattr(exc, "orig", None) or exc).split())
        message, code = _database_failure(driver, database), 1
    else:
        return None
    message = redact(message)
    return (message if "\n" in message else f"Error: {message}"), code


def _database_failure(driver: str, database: str | None) -> str:
    """The driver's words, with which database and what to do when SQLite's say neither."""
    where = f"database {database}" if database else "the database"
    if "readonly database" in driver:
        return (
            f"{where} is read-only for this user ({driver}): make the file and its folder "
            "writable, or point [database] url at a copy that is"
        )
    if "disk image is malformed" in driver or "file is not a database" in driver:
        return (
            f"{where} is damaged or not an SQLite database ({driver}): it may be a truncated "
            "copy; restore it from a backup"
        )
    return f"database error: {driver}"


def _database_url(ctx: click.Context) -> str | None:
    """The database a command used, if it got as far as loading the settings."""
    app = ctx.find_object(App)
    if app is None or "settings" not in app.__dict__:  # never loaded: no database opened
        return None
    return str(app.settings.database_url)


def _is_database_error(exc: Exception) -> bool:
    # Checked through sys.modules: importing SQLAlchemy here would slow every command.
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def summary(cmd: click.Command) -> str:
    """The first sentence of a command's help, whole: click cuts it at the first word that
    ends with a dot ("(GDPR Art.") or at a width; a wrapped line reads better than either."""
    if cmd.short_help:
        return cmd.short_help
    paragraph = (cmd.help or "").strip().split("\n\n")[0]
    return _SENTENCE_END.split(" ".join(paragraph.split()), maxsplit=1)[0]


class HelpGroup(click.Group):
    """A group whose listing shows each command's whole first sentence (see :func:`summary`)."""

    group_class = type  # its subgroups too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, summary(cmd)) for name, cmd in listed if cmd is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(HelpGroup):
    """A click group whose subcommands register themselves when their module loads."""

    group_class = HelpGroup  # type: ignore[assignment]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly with 0, as Unix tools do.
            # Python would report the failed flush of stdout at exit: point it at devnull.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:
            failure = _failure(exc, _database_url(ctx))
            if failure is None:
                raise
            if ctx.params.get("debug"):
                import traceback  # only here: it costs every command's start-up

                traceback.print_exc()
            click.echo(failure[0], err=True)
            ctx.exit(failure[1])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        modules = LAZY_COMMANDS.get(cmd_name, ())
        if cmd_name not in self.commands:
            for module in (modules,) if isinstance(modules, str) else modules:
                importlib.import_module(f"newsletter.cli.{module}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with a stand-in built from ``COMMAND_HELP`` for unloaded commands."""
        listed = []
        for name in self.list_commands(ctx):
            if name in self.commands or name not in COMMAND_HELP:
                cmd = self.get_command(ctx, name)
            else:
                cmd = click.Command(name, help=COMMAND_HELP[name])
            if cmd is not None and not cmd.hidden:
                listed.append((name, cmd))
        if listed:
            with formatter.section("Commands"):
                formatter.write_dl([(name, summary(cmd)) for name, cmd in listed])


@click.group(
    name="newsletter",
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Examples:\n\n\b\n  newsletter demo\n  newsletter check issues/2021-07.yaml\n"
    "  newsletter render issues/*.yaml -o out/",
)
@click.version_option(__version__, "--version", prog_name="newsletter")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="NEWSLETTER_CONFIG",
    help="Settings file (default: ./newsletter.toml, else built-in defaults).",
)
@click.option(
    "--database",
    metavar="URL",
    help="SQLAlchemy database URL (default: sqlite:///newsletter.sqlite, "
    "or $NEWSLETTER_DATABASE_URL).",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an error (for bug reports).")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, database: str | None, debug: bool) -> None:
    """Author, render and deliver an email newsletter, without tracking anyone."""
    ctx.obj = App(config, database)


def main(argv: list[str] | None = None, prog_name: str = "newsletter") -> None:
    cli.main(args=argv, prog_name=prog_name)
