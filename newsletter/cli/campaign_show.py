"""``campaigns show``: one campaign's state, totals, waves, destinations and complaint rate.

The one campaign command that only reads: on the default SQLite database it answers
through ``sqlite3`` without loading SQLAlchemy (``tests/test_startup.py`` counts the
modules), so it lives apart from the commands that open the ORM to send. It attaches to
the ``campaigns`` group of :mod:`newsletter.cli.campaigns`.
"""

from __future__ import annotations

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.campaigns import campaigns
from newsletter.cli.delivery import STATUSES, open_db


@campaigns.command("show")
@click.argument("campaign_id", type=int)
@pass_app
def show_cmd(app: App, campaign_id: int) -> None:
    """One campaign: subject, state, transport, totals per delivery status, complaint rate.

    Destinations that throttled the campaign (`421`/`4.7.x` replies) are listed with
    their deferrals, their last reply and how long they are still backed off; the
    destinations `newsletter.toml` limits, with their limits.

    A complaint rate above 0.1 % prints a warning, above 0.3 % an error line
    (Gmail's limits for bulk senders).

    \b
    Example:
      newsletter campaigns show 3
    """
    from contextlib import closing

    from newsletter.campaigns.totals import (
        complaint_rate,
        destination_deferrals,
        summary,
        waves_of,
    )
    from newsletter.destinationconfig import describe as describe_limits
    from newsletter.lightdb import sqlite_reader

    # The embedded default answers through sqlite3 without loading SQLAlchemy;
    # anything else (PostgreSQL, a schema to check or create) the long way.
    light = sqlite_reader(app.settings.database_url)
    with closing(light) if light else open_db(app).engine.connect() as connection:
        c = summary(connection, campaign_id)
        complaints = complaint_rate(connection, campaign_id, sent=c.counts.get("sent", 0))
        throttled = destination_deferrals(connection, campaign_id)
        waves = waves_of(connection, campaign_id)
    click.echo(f"Campaign {c.id} ({c.kind}): issue {c.issue} to list {c.list}")
    click.echo(f"Subject:    {c.subject}")
    click.echo(f"State:      {c.state}")
    click.echo(f"Recipients: {c.recipients}")
    if c.transport:
        click.echo(f"Transport:  {c.transport}")
    click.echo(f"Created:    {c.created_at:%Y-%m-%d %H:%M:%S} UTC")
    if c.started_at:
        click.echo(f"Started:    {c.started_at:%Y-%m-%d %H:%M:%S} UTC")
    if c.finished_at:
        click.echo(f"Finished:   {c.finished_at:%Y-%m-%d %H:%M:%S} UTC")
    if c.scheduled_at:
        from newsletter.campaigns.state import schedule_phrase

        click.echo(f"Scheduled:  {schedule_phrase(c.scheduled_at, c.schedule_zone)}")
    if c.queue:
        click.echo(f"Workers:    queue {c.queue}")
    if waves:
        click.echo("Waves:      (zones, local time, UTC, recipients, sent)")
        for w in waves:
            note = " (cancelled)" if w.cancelled else ""
            click.echo(
                f"  {w.number}. {', '.join(w.zones)}  {w.local}  {w.at:%Y-%m-%d %H:%M} UTC  "
                f"{w.recipients} recipient{'s' if w.recipients != 1 else ''}, {w.sent} sent{note}"
            )
    if c.segment_expression:
        named = f"{c.segment_name}: " if c.segment_name else "--where "
        click.echo(f"Segment:    {named}{c.segment_expression}")
    click.echo("Deliveries:")
    for status in STATUSES:
        if c.counts.get(status):
            click.echo(f"  {status:<10} {c.counts[status]:>8}")
    if len(c.editions) > 1:
        click.echo("Editions:")
        for e in c.editions:
            done = ", ".join(f"{n} {s}" for s, n in sorted(e.counts.items()))
            click.echo(
                f"  {e.language or '-':<10} {e.recipients:>8}  {e.subject} ({done or 'none'})"
            )
    d = app.settings.delivery
    limits = describe_limits(d.destinations, d.destination_connections)
    if limits:
        click.echo(f"Destination limits: (others: {d.destination_connections} connections each)")
        for name, text in limits:
            click.echo(f"  {name:<20} {text}")
    if throttled:
        click.echo("Throttled by destination:")
        for t in throttled:
            until = (
                f", backing off until {t.backing_off_until:%H:%M:%S} UTC"
                if (t.backing_off_until)
                else ""
            )
            click.echo(f"  {t.destination:<20} {t.deferrals:>6} deferred{until}")
            click.echo(f"    last reply: {t.last_reply}")
    if complaints.sent:
        click.echo(
            f"Complaints: {complaints.complaints} of {complaints.sent} sent ({complaints.rate:.2%})"
        )
    if complaints.level == "error":
        click.echo(
            f"error: complaint rate {complaints.rate:.2%} is above 0.3 %, the limit above which "
            "Gmail rejects or junks bulk mail; check the list's consent and unsubscribe link"
        )
    elif complaints.level == "warning":
        click.echo(
            f"warning: complaint rate {complaints.rate:.2%} is above 0.1 %, Gmail's "
            "recommended maximum"
        )
