"""One way to print listings, so every ``… list`` command has the same flags.

    @cli.command("list")
    @output_options
    def list_cmd(fmt: str) -> None:
        write_rows(rows, ["slug", "name"], fmt, title="Lists")

``table`` (the default) is a rich table for people; ``csv`` and ``json``
are for scripts and are streamed row by row, so a million-row listing
needs no more memory than a short one. Progress bars go to stderr and only
appear on a terminal, so piped output stays clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from newsletter.tabular import cell, write_csv, write_json

# rich is imported where a table or a bar is drawn: scripts reading CSV or
# JSON, and commands that print a few lines, do not pay for it.

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "csv", "json")
_UNLIMITED = 10_000


def output_options(func: F) -> F:
    """Add ``--format table|csv|json`` (passed to the command as ``fmt``)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for reading, csv or json for scripts (streamed).",
    )(func)


def write_rows(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    empty: str | None = None,
) -> int:
    """Print ``rows`` (dicts keyed by ``columns``) in ``fmt``; returns the row count.

    ``headers`` renames columns in the table only (csv/json keep the keys,
    which are stable for scripts); ``empty`` is shown instead of an empty table.
    """
    out = sys.stdout
    if fmt == "csv":
        return write_csv(rows, columns, out)
    if fmt == "json":
        return write_json(rows, columns, out)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for c in columns:
        label = (headers or {}).get(c, c.replace("_", " "))
        table.add_column(label, overflow="fold")
    n = 0
    for row in rows:
        # Text, not str: a value such as "[dkim] key_file" is data, not rich markup.
        table.add_row(*(Text(cell(row.get(c), short=True)) for c in columns))
        n += 1
    if n == 0 and empty:
        click.echo(empty)
        return 0
    # Without a terminal rich assumes 80 columns and folds cells ("confirme/d"); a file or a
    # pipe has no width, so the table gets the width its content needs.
    width = None if out.isatty() else _UNLIMITED
    Console(file=out, soft_wrap=False, width=width).print(table)
    return n


def progress_enabled(option: bool | None) -> bool:
    """``--progress/--no-progress``; by default only when stderr is a terminal."""
    return sys.stderr.isatty() if option is None else option


progress_option = click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="Progress bar on stderr (default: only on a terminal).",
)


@contextmanager
def progress_bar(
    description: str, *, enabled: bool, unit: str = "rows"
) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``(done, total)`` callback drawing a bar on stderr, or None."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    speed = TransferSpeedColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (TextColumn("{task.description}"), BarColumn(), speed, TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def spinner(description: str, *, enabled: bool) -> Iterator[None]:
    """A spinner with the time elapsed on stderr, for one long step that cannot count its
    progress (a single SQL statement): the user sees it is working, and for how long."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        progress.add_task(description, total=None)
        yield


def ask_or_nothing_sent(question: str) -> None:
    """Ask before sending; "n" is an answer, not a failure: "Nothing sent." and exit 0."""
    if not click.confirm(question):
        click.echo("Nothing sent.")
        raise click.exceptions.Exit(0)
