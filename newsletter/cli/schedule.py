"""CLI for schedules: ``campaigns schedule|unschedule`` (attached to the ``campaigns`` group)."""

from __future__ import annotations

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.campaigns import campaigns
from newsletter.cli.delivery import open_db


@campaigns.command("schedule")
@click.argument("campaign_id", type=int)
@click.option(
    "--at", "at", required=True, metavar="TIME", help='When: "YYYY-MM-DD HH:MM" (seconds optional).'
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="IANA time zone of --at, e.g. Europe/Berlin (default: this machine's).",
)
@click.option("--queue", metavar="NAME", help="The workers' queue (default: [workers] queue).")
@pass_app
def schedule_cmd(
    app: App, campaign_id: int, at: str, timezone: str | None, queue: str | None
) -> None:
    """Start a draft campaign by itself at a given time; a worker sends it.

    Recipients stay those of `campaigns create`; whoever unsubscribes before
    their message leaves is skipped. On PostgreSQL the workers send it in
    batches; on SQLite `newsletter worker` sends it as `campaigns send` would.
    Scheduling again replaces the time.

    \b
    Examples:
      newsletter campaigns schedule 3 --at "2026-12-07 09:00" --timezone Europe/Berlin
      newsletter worker
    """
    from newsletter.campaigns.state import schedule_phrase
    from newsletter.workers import schedule

    when = schedule.parse_when(at, timezone)
    with open_db(app).session() as s:
        c = schedule.schedule(s, campaign_id, when, queue=queue or app.settings.workers.queue)
    click.echo(
        f"Campaign {c.id} scheduled for {schedule_phrase(when.at, when.zone)}, "
        f"{when.at:%Y-%m-%d %H:%M:%S} UTC."
    )
    click.echo("A worker sends it then: newsletter worker")


@campaigns.command("unschedule")
@click.argument("campaign_id", type=int)
@pass_app
def unschedule_cmd(app: App, campaign_id: int) -> None:
    """Clear a campaign's schedule; it stays a draft and nothing is sent.

    \b
    Example:
      newsletter campaigns unschedule 3
    """
    from newsletter.workers import schedule

    with open_db(app).session() as s:
        schedule.unschedule(s, campaign_id)
    click.echo(f"Campaign {campaign_id} is no longer scheduled; it is a draft again.")
