"""``newsletter subscribers add|list|show|edit|unsubscribe|remove``: one person at a time."""

from __future__ import annotations

from typing import Any

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.database import session
from newsletter.cli.output import output_options, write_rows
from newsletter.cli.subscribers import LIST_COLUMNS, STATUS, parse_attributes, subscribers_group
from newsletter.subscribers import listing, people
from newsletter.subscribers.addresses import parse_address
from newsletter.subscribers.tables import Status


@subscribers_group.command("add")
@click.argument("email")
@click.option("--list", "lists", multiple=True, metavar="SLUG", help="Subscribe to this list.")
@click.option("--name")
@click.option("--language", help="e.g. de, en, zh (default: the list's language).")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="Set an attribute.")
@click.option("--status", type=STATUS, default="unconfirmed", show_default=True)
@click.option("--consent-note", help="Where consent comes from; required with --status confirmed.")
@click.option(
    "--resubscribe", is_flag=True, help="Allow someone who unsubscribed (needs --consent-note)."
)
@click.option("--check-deliverability", is_flag=True, help="Also check the domain in DNS.")
@pass_app
def add_cmd(
    app: App,
    email: str,
    lists: tuple[str, ...],
    name: str | None,
    language: str | None,
    attrs: tuple[str, ...],
    status: str,
    consent_note: str | None,
    resubscribe: bool,
    check_deliverability: bool,
) -> None:
    """Add a subscriber (or update one) and subscribe them to lists.

    Suppressed addresses are refused, and so is anyone who unsubscribed from
    a list unless --resubscribe --consent-note says why they may come back.

    \b
    Example:
      newsletter subscribers add anna@example.org --list news --name "Anna Müller" \\
        --status confirmed --consent-note "signed up at the 2024 conference"
    """
    with session(app, create=True) as s:
        sub = people.add_subscriber(
            s,
            email,
            lists,
            name=name,
            language=language,
            attributes=parse_attributes(attrs),
            status=status,
            consent_note=consent_note,
            resubscribe=resubscribe,
            check_deliverability=check_deliverability,
        )
        where = f" to {', '.join(lists)}" if lists else ""
        click.echo(f"Added {sub.email}{where} ({status}).")
        if parse_address(sub.email).is_role:
            click.echo(
                f"Warning: {sub.email} is a role address (a team or a machine, not a person).",
                err=True,
            )


def _list_row(sub: Any, infos: list[listing.SubscriptionInfo], reason: str | None) -> dict:
    return {
        "id": sub.id,
        "email": sub.email,
        "name": sub.name,
        "language": sub.language,
        "lists": ", ".join(f"{i.list_slug}:{i.status}" for i in infos),
        "suppressed": reason,
        "created_at": sub.created_at,
    }


@subscribers_group.command("list")
@click.option("--list", "list_slug", metavar="SLUG", help="Only subscribers of this list.")
@click.option("--status", type=STATUS, help="Only this subscription status.")
@click.option(
    "--search", help="Part of the address or name (any case; an IDN domain in either form)."
)
@output_options
@pass_app
def list_cmd(
    app: App, list_slug: str | None, status: str | None, search: str | None, fmt: str
) -> None:
    """List subscribers, with their lists and any suppression.

    \b
    Examples:
      newsletter subscribers list --list news --status confirmed
      newsletter subscribers list --search müller --format json
    """
    with session(app) as s:
        rows = (
            _list_row(*x)
            for x in listing.iter_subscribers(s, list_slug=list_slug, status=status, search=search)
        )
        write_rows(rows, LIST_COLUMNS, fmt, title="Subscribers", empty="No subscribers found.")


@subscribers_group.command("show")
@click.argument("who", metavar="EMAIL_OR_ID")
@pass_app
def show_cmd(app: App, who: str) -> None:
    """Show one subscriber: data, subscriptions and suppression.

    \b
    Example:
      newsletter subscribers show anna@example.org
    """
    from newsletter.subscribers.suppressions import suppression_for

    with session(app) as s:
        sub = people.get_subscriber(s, who)
        infos = listing.subscriptions_of(s, [sub.id])[sub.id]  # type: ignore[list-item,index]
        blocked = suppression_for(s, sub.email)
    click.echo(f"{sub.email} (id {sub.id})")
    click.echo(f"  name: {sub.name or '-'}")
    click.echo(f"  language: {sub.language or '-'}")
    if sub.timezone:
        click.echo(f"  time zone: {sub.timezone}")
    for key, value in sorted(sub.attributes.items()):
        click.echo(f"  {key}: {value}")
    click.echo(f"  created: {sub.created_at:%Y-%m-%d %H:%M} UTC")
    if parse_address(sub.email).is_role:
        click.echo("  role address: yes (a team or a machine, not a person)")
    if blocked is not None:
        click.echo(f"  suppressed: {blocked.reason} since {blocked.created_at:%Y-%m-%d}")
    if not infos:
        click.echo("  lists: none")
    for i in infos:
        since = i.confirmed_at or i.created_at
        if i.status == Status.UNSUBSCRIBED and i.unsubscribed_at:
            since = i.unsubscribed_at
        click.echo(f"  {i.list_slug}: {i.status} since {since:%Y-%m-%d} (source: {i.source})")


@subscribers_group.command("edit")
@click.argument("who", metavar="EMAIL_OR_ID")
@click.option("--email", help="New address (must not be suppressed or taken).")
@click.option("--name", help="New name ('' to clear).")
@click.option("--language", help="New language ('' to clear).")
@click.option(
    "--timezone", metavar="ZONE", help="IANA time zone, e.g. Asia/Shanghai ('' to clear)."
)
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="Set an attribute.")
@click.option("--unset-attr", "unset", multiple=True, metavar="KEY", help="Remove an attribute.")
@pass_app
def edit_cmd(
    app: App,
    who: str,
    email: str | None,
    name: str | None,
    language: str | None,
    timezone: str | None,
    attrs: tuple[str, ...],
    unset: tuple[str, ...],
) -> None:
    """Change a subscriber's address, name, language, time zone or attributes.

    The time zone is the one `campaigns schedule --local` sends at.

    \b
    Examples:
      newsletter subscribers edit anna@example.org --name "Anna Schmidt" --attr city=Köln
      newsletter subscribers edit li@example.org --timezone Asia/Shanghai
    """
    with session(app) as s:
        changed = people.edit_subscriber(
            s,
            who,
            email=email,
            name=name,
            language=language,
            set_attributes=parse_attributes(attrs),
            unset_attributes=unset,
            timezone=timezone,
        )
    click.echo(f"Updated {who}: {', '.join(changed)}." if changed else f"{who}: nothing changed.")


@subscribers_group.command("unsubscribe")
@click.argument("who", metavar="EMAIL_OR_ID")
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: all lists).")
@click.option("--note", help="Why, for the consent log (e.g. 'asked by phone').")
@pass_app
def unsubscribe_cmd(app: App, who: str, list_slug: str | None, note: str | None) -> None:
    """Unsubscribe from one list, or from all lists and suppress the address.

    \b
    Examples:
      newsletter subscribers unsubscribe anna@example.org --list news
      newsletter subscribers unsubscribe anna@example.org --note "asked by phone"
    """
    with session(app) as s:
        changed = people.unsubscribe(s, who, list_slug, detail=note)
    lists = ", ".join(changed) if changed else "no active subscriptions"
    if list_slug is None:
        click.echo(f"Unsubscribed {who} from all lists ({lists}) and suppressed the address.")
    elif changed:
        click.echo(f"Unsubscribed {who} from {list_slug}.")
    else:
        click.echo(f"{who} was already unsubscribed from {list_slug}.")


@subscribers_group.command("remove")
@click.argument("who", metavar="EMAIL_OR_ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def remove_cmd(app: App, who: str, yes: bool) -> None:
    """Delete a subscriber entered by mistake (typo, test address).

    Suppressions and the consent log are kept. To erase a person's data on
    request, use 'subscribers forget' instead.

    \b
    Example:
      newsletter subscribers remove anna@exmaple.org --yes
    """
    with session(app) as s:
        sub = people.get_subscriber(s, who)
        if not yes:
            click.confirm(f"Remove {sub.email} and their subscriptions?", abort=True, err=True)
        people.remove_subscriber(s, who)
    click.echo(f"Removed {sub.email}.")
