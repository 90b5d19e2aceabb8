"""CLI for schedules: ``campaigns schedule|unschedule`` (attached to the ``campaigns`` group)."""

from __future__ import annotations

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.campaigns import campaigns
from newsletter.cli.delivery import open_db


@campaigns.command("schedule")
@click.argument("campaign_id", type=int)
@click.option("--at", "at", metavar="TIME", help='When: "YYYY-MM-DD HH:MM" (seconds optional).')
@click.option(
    "--local",
    metavar="HH:MM",
    help="Instead of --at: this time in each recipient's own zone, in waves, earliest first.",
)
@click.option(
    "--on", "on", metavar="DATE", help="With --local: the date (default: the first date on which "
    "no recipient's time has passed).",
)  # fmt: skip
@click.option(
    "--window",
    metavar="SPAN",
    help="With --local: refuse if the rate limit cannot send a wave within SPAN, e.g. 2h.",
)
@click.option(
    "--late",
    type=click.Choice(["send", "skip"]),
    help="With --local: for zones whose time has passed, send now or leave them out "
    "(default: refuse).",
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="IANA time zone of --at, or with --local of recipients without one "
    "(default: this machine's).",
)
@click.option("--queue", metavar="NAME", help="The workers' queue (default: [workers] queue).")
@pass_app
def schedule_cmd(
    app: App,
    campaign_id: int,
    at: str | None,
    local: str | None,
    on: str | None,
    window: str | None,
    late: str | None,
    timezone: str | None,
    queue: str | None,
) -> None:
    """Start a draft campaign by itself at a given time; a worker sends it.

    Recipients stay those of `campaigns create`; whoever unsubscribes before
    their message leaves is skipped. On PostgreSQL the workers send it in
    batches; on SQLite `newsletter worker` sends it as `campaigns send` would.
    Scheduling again replaces the time.

    With --local each recipient gets it at that time in their zone: the zone
    they gave, else their list's default zone, else one their language
    implies (if the list allows it), else --timezone. Recipients whose zones
    share a UTC offset form a wave; a time the clocks skip is refused, a
    repeated one is its first occurrence.

    \b
    Examples:
      newsletter campaigns schedule 3 --at "2026-12-07 09:00" --timezone Europe/Berlin
      newsletter campaigns schedule 3 --local 09:00 --on 2026-12-08 --timezone Europe/Berlin
      newsletter worker
    """
    from newsletter.campaigns.state import schedule_phrase
    from newsletter.workers import schedule

    if (at is None) == (local is None):
        raise click.UsageError("give either --at or --local")
    if local is None and (on or window or late):
        raise click.UsageError("--on, --window and --late go with --local")
    if local is not None:
        _schedule_local(app, campaign_id, local, on, window, late, timezone, queue)
        return
    assert at is not None
    when = schedule.parse_when(at, timezone)
    with open_db(app).session() as s:
        c = schedule.schedule(s, campaign_id, when, queue=queue or app.settings.workers.queue)
    click.echo(
        f"Campaign {c.id} scheduled for {schedule_phrase(when.at, when.zone)}, "
        f"{when.at:%Y-%m-%d %H:%M:%S} UTC."
    )
    click.echo("A worker sends it then: newsletter worker")


def _schedule_local(
    app: App,
    campaign_id: int,
    local: str,
    on: str | None,
    window: str | None,
    late: str | None,
    timezone: str | None,
    queue: str | None,
) -> None:
    from newsletter.workers import schedule

    d = app.settings.delivery
    rates = {"second": d.rate_per_second, "minute": d.rate_per_minute, "hour": d.rate_per_hour}
    with open_db(app).session() as s:
        done = schedule.schedule_local(
            s,
            campaign_id,
            local,
            on=on,
            zone=timezone,
            late=late,
            window=window,
            rates=rates,
            queue=queue or app.settings.workers.queue,
        )
    n = len(done.waves)
    click.echo(f"Campaign {campaign_id} scheduled in {n} wave{'s' if n != 1 else ''}:")
    for w in done.waves:
        click.echo(
            f"  {w.number}. {w.at:%Y-%m-%d %H:%M} UTC: {w.local} in {', '.join(w.zones)}"
            f" ({w.recipients} recipient{'s' if w.recipients != 1 else ''})"
        )
    if done.skipped:
        click.echo(f"{done.skipped} recipient(s) left out: their time had passed (--late skip).")
    click.echo("A worker sends each wave then: newsletter worker")


@campaigns.command("unschedule")
@click.argument("campaign_id", type=int)
@pass_app
def unschedule_cmd(app: App, campaign_id: int) -> None:
    """Clear a campaign's schedule; it stays a draft and nothing is sent.

    A campaign already sending in waves (--local) keeps what was sent and
    the wave under way; its remaining waves are cancelled.

    \b
    Example:
      newsletter campaigns unschedule 3
    """
    from newsletter.workers import schedule

    with open_db(app).session() as s:
        c = schedule.unschedule(s, campaign_id)
        status = c.status
    if status == "draft":
        click.echo(f"Campaign {campaign_id} is no longer scheduled; it is a draft again.")
    else:
        click.echo(f"Campaign {campaign_id}: its remaining waves are cancelled ({status}).")
