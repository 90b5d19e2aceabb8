"""``newsletter segments``: named subscriber filters for ``campaigns create --segment``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.database import session
from newsletter.cli.output import output_options, write_rows

COLUMNS = ["name", "count", "expression", "updated_at"]


@cli.group("segments")
def segments_group() -> None:
    """Saved subscriber filters: a campaign to part of a list, without SQL.

    \b
    Examples:
      newsletter segments save members-zh --where "language = 'zh' and tag = 'member'"
      newsletter segments list --list isa
      newsletter campaigns create issues/2021-07.yaml --list isa --segment members-zh
    """


@segments_group.command("save")
@click.argument("name")
@click.option("--where", "expression", required=True, metavar="EXPRESSION",
              help="The filter (see docs/subscribers.md, Segments).")  # fmt: skip
@pass_app
def save_cmd(app: App, name: str, expression: str) -> None:
    """Save (or replace) the segment NAME after checking its expression.

    \b
    Example:
      newsletter segments save early-zh --where "language = 'zh' and subscribed_before = 2021-01-01"
    """
    from newsletter.subscribers.segment_store import save_segment, segments

    with session(app) as s:
        save_segment(s, name, expression)
        (info,) = segments(s, name=name)
    click.echo(f"Saved segment {name}: {info.count} subscribers match now.")


def _list_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--list", "list_slug", metavar="SLUG", help="Count within this list (default: all lists)."
    )(func)


@segments_group.command("list")
@_list_option
@output_options
@pass_app
def list_cmd(app: App, list_slug: str | None, fmt: str) -> None:
    """Every saved segment with how many confirmed subscribers it selects now.

    \b
    Examples:
      newsletter segments list
      newsletter segments list --list isa --format csv
    """
    from newsletter.subscribers.segment_store import segments

    with session(app) as s:
        rows = [vars(x) for x in segments(s, list_slug)]
    empty = "No segments yet. Save one with: newsletter segments save NAME --where …"
    write_rows(rows, COLUMNS, fmt, title="Segments", empty=empty)


@segments_group.command("show")
@click.argument("name")
@_list_option
@output_options
@pass_app
def show_cmd(app: App, name: str, list_slug: str | None, fmt: str) -> None:
    """One segment: its expression and how many it selects now.

    \b
    Example:
      newsletter segments show members-zh --list isa
    """
    from newsletter.subscribers.segment_store import segments

    with session(app) as s:
        (info,) = segments(s, list_slug, name=name)
    if fmt != "table":
        write_rows([vars(info)], COLUMNS, fmt)
        return
    click.echo(f"{info.name}: {info.expression}")
    where = f"on {list_slug}" if list_slug else "on all lists"
    click.echo(f"  matches now: {info.count} confirmed subscribers {where}")
    click.echo(f"  saved: {info.updated_at:%Y-%m-%d %H:%M} UTC")


@segments_group.command("delete")
@click.argument("name")
@pass_app
def delete_cmd(app: App, name: str) -> None:
    """Delete a saved segment (campaigns created with it keep its expression).

    \b
    Example:
      newsletter segments delete members-zh
    """
    from newsletter.subscribers.segment_store import delete_segment

    with session(app) as s:
        delete_segment(s, name)
    click.echo(f"Deleted segment {name}.")
