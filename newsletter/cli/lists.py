"""``newsletter lists``: create, show, rename and delete mailing lists."""

from __future__ import annotations

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.database import session
from newsletter.cli.output import output_options, write_rows
from newsletter.subscribers import lists as lists_lib
from newsletter.subscribers.fields import language_warning

COLUMNS = ["slug", "name", "language", "double_opt_in", "confirmed", "unconfirmed",
           "unsubscribed", "total"]  # fmt: skip


def _row(s: lists_lib.ListSummary) -> dict:
    return {**vars(s), "total": s.total}


@cli.group("lists")
def lists_group() -> None:
    """Mailing lists: who can subscribe to what.

    \b
    Examples:
      newsletter lists create news --name "Monthly news" --language de
      newsletter lists list
    """


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@click.option("--description", help="One line shown on the subscription page.")
@click.option(
    "--language", help="Default language of the list, a tag with a catalog, e.g. de, fr, zh-Hant."
)
@click.option(
    "--languages",
    metavar="TAGS",
    help="The languages the sign-up form offers, comma-separated, e.g. fr,zh-Hans,ar "
    "(default: every language with a catalog).",
)
@click.option(
    "--double-opt-in/--single-opt-in",
    default=True,
    show_default=True,
    help="Whether new subscribers must confirm by email before they get mail.",
)
@pass_app
def create_cmd(
    app: App,
    slug: str,
    name: str | None,
    description: str | None,
    language: str | None,
    languages: str | None,
    double_opt_in: bool,
) -> None:
    """Create the mailing list SLUG (lower-case letters, digits and '-').

    \b
    Example:
      newsletter lists create news --name "Monthly news" --language de
    """
    with session(app, create=True) as s:
        ml = lists_lib.create_list(
            s, slug, name, description=description, language=language,
            languages=(languages or "").split(","), double_opt_in=double_opt_in,
        )  # fmt: skip
        click.echo(f"Created list {ml.slug} ({ml.name}).")
    for tag in dict.fromkeys([ml.language, *ml.signup_languages]):
        warning = language_warning(tag)
        if warning:
            click.echo(f"warning: {warning}", err=True)


@lists_group.command("list")
@output_options
@pass_app
def list_cmd(app: App, fmt: str) -> None:
    """Show every list with its number of subscribers per status.

    \b
    Examples:
      newsletter lists list
      newsletter lists list --format csv
    """
    with session(app) as s:
        rows = [_row(x) for x in lists_lib.list_summaries(s)]
    write_rows(rows, COLUMNS, fmt, title="Mailing lists",
               headers={"double_opt_in": "double opt-in"},
               empty="No lists yet. Create one with: newsletter lists create SLUG")  # fmt: skip


@lists_group.command("show")
@click.argument("slug")
@output_options
@pass_app
def show_cmd(app: App, slug: str, fmt: str) -> None:
    """Show one list: its settings and subscriber counts.

    \b
    Example:
      newsletter lists show news
    """
    with session(app) as s:
        ml = lists_lib.get_list(s, slug)
        summary = lists_lib.list_summaries(s, slug)[0]
        row = {**_row(summary), "description": ml.description, "created_at": ml.created_at}
    if fmt != "table":
        write_rows([row], [*COLUMNS, "description", "created_at"], fmt)
        return
    opt_in = "double opt-in" if row["double_opt_in"] else "single opt-in"
    click.echo(f"{ml.slug}: {ml.name}")
    if ml.description:
        click.echo(f"  {ml.description}")
    click.echo(f"  language: {ml.language or '(organisation default)'}, {opt_in}")
    offered = ", ".join(ml.signup_languages) or "every language"
    click.echo(f"  sign-up form offers: {offered}")
    if ml.timezone or ml.timezone_from_language:
        click.echo(f"  time zone: {_zone_phrase(ml.timezone, ml.timezone_from_language)}")
    click.echo(f"  created: {ml.created_at:%Y-%m-%d %H:%M} UTC")
    click.echo(
        f"  subscribers: {summary.confirmed} confirmed, {summary.unconfirmed} unconfirmed, "
        f"{summary.unsubscribed} unsubscribed"
    )
    click.echo(f"  unconfirmed: {_expiry(ml.remind_after_days, ml.expire_after_days)}")


def _expiry(remind: int, expire: int) -> str:
    reminded = f"reminded once after {remind} days" if remind else "never reminded"
    deleted = f"deleted after {expire} days" if expire else "never deleted"
    return f"{reminded}, {deleted}"


@lists_group.command("expiry")
@click.argument("slug")
@click.option(
    "--remind-after-days", type=int, metavar="N", help="One reminder after N days (0: none)."
)
@click.option(
    "--expire-after-days",
    type=int,
    metavar="M",
    help="Delete the unconfirmed after M days (0: never).",
)
@pass_app
def expiry_cmd(
    app: App, slug: str, remind_after_days: int | None, expire_after_days: int | None
) -> None:
    """Set when a list's unconfirmed people are reminded and deleted (default 3 and 30 days).

    `newsletter subscribers expire` (run daily by `newsletter worker`)
    reminds each sign-up or invitation not confirmed after N days once, and
    deletes the people still unconfirmed after M days. Without options: show them.

    \b
    Example:
      newsletter lists expiry news --remind-after-days 5 --expire-after-days 21
    """
    with session(app) as s:
        ml = lists_lib.set_expiry(
            s, slug, remind_after_days=remind_after_days, expire_after_days=expire_after_days
        )
        click.echo(f"{ml.slug}: unconfirmed {_expiry(ml.remind_after_days, ml.expire_after_days)}.")


def _zone_phrase(zone: str | None, from_language: bool) -> str:
    if zone:
        return zone
    if from_language:
        return "the zone their language implies (zh: Asia/Shanghai), else the campaign's"
    return "the campaign's"


@lists_group.command("timezone")
@click.argument("slug")
@click.argument("zone", required=False)
@click.option(
    "--from-language/--not-from-language",
    default=None,
    help="Without a ZONE: whether a subscriber's language (zh-Hans: Asia/Shanghai) may stand "
    "in for a zone they never gave.",
)
@pass_app
def timezone_cmd(app: App, slug: str, zone: str | None, from_language: bool | None) -> None:
    """Set the time zone of subscribers who gave none ('' to clear), for `--local` schedules.

    A subscriber's own zone always wins, then the list's ZONE; without one,
    --from-language lets the language stand in (zh, zh-Hans: Asia/Shanghai;
    zh-Hant: Asia/Taipei; ja: Asia/Tokyo; ko: Asia/Seoul), else the
    campaign's --timezone is used. An inferred zone times that campaign only
    and is never stored as the subscriber's.

    \b
    Examples:
      newsletter lists timezone news Europe/Berlin
      newsletter lists timezone news '' --from-language
    """
    if zone is None and from_language is None:
        raise click.UsageError("give a ZONE, --from-language or --not-from-language")
    with session(app) as s:
        ml = lists_lib.set_time_zone(s, slug, zone, from_language=from_language)
        click.echo(
            f"List {ml.slug}: subscribers without a time zone get "
            f"{_zone_phrase(ml.timezone, ml.timezone_from_language)}."
        )


@lists_group.command("rename")
@click.argument("slug")
@click.option("--slug", "new_slug", help="New slug.")
@click.option("--name", help="New display name.")
@click.option("--description", help="New description ('' to clear it).")
@pass_app
def rename_cmd(
    app: App, slug: str, new_slug: str | None, name: str | None, description: str | None
) -> None:
    """Change a list's slug, display name or description.

    Subscriptions stay attached. Scripts that use the old slug must be updated.

    \b
    Example:
      newsletter lists rename news --slug monthly --name "Monthly news"
    """
    with session(app) as s:
        ml = lists_lib.rename_list(s, slug, new_slug=new_slug, name=name, description=description)
        click.echo(f"List {slug} is now {ml.slug} ({ml.name}).")


@lists_group.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--suppress-unsubscribed",
    "unsubscribed",
    flag_value="suppress",
    help="Put people who unsubscribed from this list on the suppression list.",
)
@click.option(
    "--forget-unsubscribed",
    "unsubscribed",
    flag_value="forget",
    help="Delete even though people unsubscribed from it (their choice is lost).",
)
@pass_app
def delete_cmd(app: App, slug: str, yes: bool, unsubscribed: str | None) -> None:
    """Delete a list and its subscriptions.

    Subscribers, the consent log and all suppressions are kept, so nobody who
    unsubscribed or bounced can be mailed through another list. A list that
    people unsubscribed from is only deleted with --suppress-unsubscribed or
    --forget-unsubscribed, so that their choice is not silently lost.

    \b
    Example:
      newsletter lists delete old-news --suppress-unsubscribed --yes
    """
    with session(app) as s:
        summary = lists_lib.list_summaries(s, slug)[0]
        if not yes and summary.total:
            click.confirm(
                f"Delete {slug} and its {summary.total} subscription(s)?", abort=True, err=True
            )
        removed = lists_lib.delete_list(s, slug, unsubscribed=unsubscribed or "refuse")
    click.echo(f"Deleted list {slug} ({removed} subscription(s) removed).")
