"""``subscribers invite`` and ``subscribers expire``: confirmation mails an administrator sends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.subscribers import subscribers_group

if TYPE_CHECKING:
    from newsletter.db import Database


def send_queued(app: App, db: Database) -> Counter[str]:
    """Deliver the queued subscription mails now, through the outbox ``serve`` uses."""
    from newsletter.web.mailer import Outbox
    from newsletter.web.pages import Pages
    from newsletter.web.welcome import load_welcomes

    outbox = Outbox(db, app.settings, Pages(app.settings), load_welcomes(app.settings))
    done: Counter[str] = Counter()
    outbox.send_now(on_sent=lambda _address, status: done.update([status]))
    return done


def sent_line(done: Counter[str]) -> str:
    if not done:
        return "No mail to send."
    parts = ", ".join(f"{n} {status}" for status, n in sorted(done.items()))
    return f"Mails: {parts} (see: newsletter log --kind all)."


def run_invite(
    app: App, list_slug: str, *, since: datetime | None, reason: str | None, dry_run: bool
) -> None:
    """Queue invitations in one transaction, then send them; what the CLI prints."""
    from newsletter.campaigns.invitations import invite
    from newsletter.db import Database

    db = Database.from_settings(app.settings)
    try:
        with db.session() as s:
            result = invite(s, app.settings, list_slug, since=since, reason=reason, dry_run=dry_run)
        verb = "Would invite" if dry_run else "Invited"
        click.echo(
            f"{verb} {len(result.invited)} on {result.list_slug}; skipped "
            f"{result.already_invited} with an invitation still valid, "
            f"{result.suppressed} suppressed."
        )
        if dry_run:
            for address in result.invited:
                click.echo(f"  {address}")
            return
        click.echo(sent_line(send_queued(app, db)))
    finally:
        db.dispose()


@subscribers_group.command("invite")
@click.option("--list", "list_slug", required=True, metavar="SLUG", help="The list to invite to.")
@click.option(
    "--status",
    type=click.Choice(["unconfirmed"]),
    default="unconfirmed",
    show_default=True,
    help="Whom to invite (only the unconfirmed can be).",
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Only people added to the list on or after this day (UTC).",
)
@click.option("--reason", metavar="TEXT", help="Why they were added; shown in the mail.")
@click.option("--dry-run", is_flag=True, help="List who would be invited; send nothing.")
@pass_app
def invite_cmd(
    app: App,
    list_slug: str,
    status: str,
    since: datetime | None,
    reason: str | None,
    dry_run: bool,
) -> None:
    """Send each unconfirmed person of a list a confirmation mail worded as an invitation.

    The mail says who added them and why, holds one button, and says that
    nothing beyond what was imported is stored until they confirm. It goes
    through the same durable queue as the sign-up form's mails, at the
    [delivery] rate, and is logged as kind "invitation" (newsletter log
    --kind invitation). Nobody is invited twice while an invitation of theirs
    can still be confirmed ([web] confirm_days), and a suppressed address
    never is. A `serve` running meanwhile sends what this leaves queued.

    \b
    Examples:
      newsletter subscribers invite --list news --dry-run
      newsletter subscribers invite --list news --since 2026-12-01 \\
        --reason "you signed our list at the 2026 annual meeting"
    """
    when = since.replace(tzinfo=UTC) if since is not None else None
    run_invite(app, list_slug, since=when, reason=reason, dry_run=dry_run)


@subscribers_group.command("expire")
@pass_app
def expire_cmd(app: App) -> None:
    """Remind the unconfirmed once, and delete those unconfirmed for too long.

    Per list (see: newsletter lists expiry): one reminder after
    remind_after_days (default 3) to each sign-up or invitation not yet
    confirmed whose link still works; unconfirmed people older than
    expire_after_days (default 30) are deleted, with a consent-log entry and
    without a suppression (they never consented). `newsletter worker` runs
    this once a day.

    \b
    Example:
      newsletter subscribers expire
    """
    from newsletter.db import Database
    from newsletter.workers.housekeeping import expire_and_remind

    db = Database.from_settings(app.settings)
    try:
        reminded, deleted = expire_and_remind(db, app.settings)
        gone = ", ".join(f"{n} on {slug}" for slug, n in sorted(deleted.items())) or "none"
        click.echo(f"Reminders queued: {reminded}. Deleted unconfirmed: {gone}.")
        click.echo(sent_line(send_queued(app, db)))
    finally:
        db.dispose()
