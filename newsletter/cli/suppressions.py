"""``newsletter suppressions``: addresses no list may mail."""

from __future__ import annotations

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.database import session
from newsletter.cli.output import output_options, write_rows
from newsletter.subscribers import suppressions as lib
from newsletter.subscribers.tables import Reason

COLUMNS = ["address", "reason", "created_at", "source", "detail"]
# "forgotten" is only set by 'subscribers forget', never by hand.
MANUAL_REASONS = click.Choice([r.value for r in Reason if r != Reason.FORGOTTEN])


@cli.group("suppressions")
def suppressions_group() -> None:
    """The suppression list: addresses that get no mail from any list.

    \b
    Examples:
      newsletter suppressions list --reason bounced
      newsletter suppressions add someone@example.com --detail "asked by phone"
    """


@suppressions_group.command("list")
@click.option("--reason", type=click.Choice([r.value for r in Reason]), help="Only this reason.")
@click.option("--search", help="Part of the address (any case; an IDN domain in either form).")
@output_options
@pass_app
def list_cmd(app: App, reason: str | None, search: str | None, fmt: str) -> None:
    """List suppressed addresses, newest first (forgotten people show no address).

    \b
    Examples:
      newsletter suppressions list
      newsletter suppressions list --reason bounced --format csv
    """
    with session(app) as s:
        rows = (
            {**row.model_dump(), "address": row.address or "(forgotten)"}
            for row in lib.iter_suppressions(s, reason=reason, search=search)
        )
        write_rows(rows, COLUMNS, fmt, title="Suppressions", empty="No suppressed addresses.")


@suppressions_group.command("add")
@click.argument("email")
@click.option("--reason", type=MANUAL_REASONS, default="manual", show_default=True)
@click.option("--detail", help="Why, for later readers (no personal data please).")
@pass_app
def add_cmd(app: App, email: str, reason: str, detail: str | None) -> None:
    """Suppress an address on every list, whether or not it is a subscriber.

    \b
    Example:
      newsletter suppressions add someone@example.com --detail "asked by phone"
    """
    with session(app, create=True) as s:
        row = lib.suppress(s, email, reason, detail=detail)
    if row.reason != reason:
        click.echo(
            f"{email} was already suppressed ({row.reason} since {row.created_at:%Y-%m-%d})."
        )
    else:
        click.echo(f"Suppressed {email} ({reason}).")


@suppressions_group.command("remove")
@click.argument("email")
@pass_app
def remove_cmd(app: App, email: str) -> None:
    """Lift a suppression (for example after a bounce that was the receiver's fault).

    Subscriptions are not restored: the person is mailed again only on lists
    where they are still confirmed.

    \b
    Example:
      newsletter suppressions remove someone@example.com
    """
    with session(app) as s:
        row = lib.unsuppress(s, email)
    click.echo(f"Removed the suppression of {email} ({row.reason}).")
