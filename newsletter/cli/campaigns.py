"""CLI for campaigns: ``campaigns create|send|resume|list|show|pause|cancel``.

Each command opens the database, calls one library function and prints. The
only logic here is presentation: the confirmation prompt, the progress bar and
the summary of a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.delivery import (
    STATUSES,
    open_db,
    open_transport_for,
    send_progress,
    transport_options,
)
from newsletter.cli.output import output_options, write_rows

if TYPE_CHECKING:
    from newsletter.campaigns import sender

# The campaign store and the sender are imported by the commands that use
# them: `campaigns show` reads through `report` without the ORM.


def _print_result(result: sender.RunResult) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()))
    click.echo(f"Campaign {result.campaign_id}: {result.state} ({counts or 'nothing to send'})")
    if result.stopped:
        click.echo(f"Paused. Continue with: newsletter campaigns resume {result.campaign_id}")
    if result.counts.get("unknown"):
        click.echo(
            f"{result.counts['unknown']} deliveries have an unknown outcome (the sender stopped "
            "mid-message); see: newsletter log "
            f"{result.campaign_id} --status unknown"
        )


@cli.group("campaigns")
def campaigns() -> None:
    """Create, send and follow campaigns (one issue to one list)."""


@campaigns.command("create")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_slug", required=True, metavar="SLUG", help="The mailing list.")
@click.option("--again", is_flag=True, help="Allow sending an issue to the same list twice.")
@pass_app
def create_cmd(app: App, issue: Path, list_slug: str, again: bool) -> None:
    """Render ISSUE and snapshot it with the list's current recipients.

    Recipients are the confirmed, non-suppressed subscribers at this moment;
    anyone who unsubscribes before the send is still skipped. An issue with
    language editions (2021-07.yaml, 2021-07.zh.yaml) becomes one campaign:
    each recipient gets the edition in their language, else in the list's,
    else the first (primary) one.

    \b
    Example:
      newsletter campaigns create issues/2021-07.yaml --list isa
    """
    from newsletter.campaigns import store
    from newsletter.workbench.publish import create_campaign_from_file

    with open_db(app).session() as s:
        c, r = create_campaign_from_file(s, issue, list_slug, app.settings, again=again)
        editions = store.summarize(s, c).editions
    for problem in r.warnings:
        click.echo(str(problem), err=True)
    click.echo(
        f"Created campaign {c.id}: issue {c.issue_slug} to list {c.list_slug}, "
        f"{c.recipients} recipients."
    )
    if len(editions) > 1:
        click.echo("Editions: " + ", ".join(f"{e.language} {e.recipients}" for e in editions) + ".")
    click.echo(f"Send it with: newsletter campaigns send {c.id}")


@campaigns.command("send")
@click.argument("campaign_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Compose every message, send none.")
@click.option("--no-wait", is_flag=True, help="Do not wait for retries of deferred messages.")
@transport_options
@pass_app
def send_cmd(
    app: App, campaign_id: int, yes: bool, dry_run: bool, no_wait: bool, **opts: Any
) -> None:
    """Send a draft campaign. Ctrl-C pauses after the messages in flight.

    \b
    Examples:
      newsletter campaigns send 3 --dry-run
      newsletter campaigns send 3 --transport smtp --connections 4
    """
    from newsletter.campaigns import runs, sender, store

    db = open_db(app)
    if dry_run:
        report = sender.dry_run_campaign(db, app.settings, campaign_id)
        click.echo(
            f"Dry run: composed {report.messages} messages, {report.bytes:,} bytes, "
            f"{report.per_message_us:.0f} µs per message; nothing was sent."
        )
        return
    transport = open_transport_for(app, opts)
    with db.session() as s:
        c = runs.check(s, campaign_id, resume=False)
        counts = store.status_counts(s, campaign_id)
    if not yes:
        click.confirm(
            f'Send campaign {c.id} (issue {c.issue_slug}, "{c.subject}") to '
            f"{counts.get('queued', 0)} recipients via {transport.describe()}?",
            abort=True,
        )
    with send_progress(f"campaign {campaign_id}") as update:
        result = sender.run_campaign(
            db,
            app.settings,
            campaign_id,
            transport,
            wait_for_retries=not no_wait,
            on_progress=update,
        )
    _print_result(result)


@campaigns.command("resume")
@click.argument("campaign_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Also send the messages whose outcome is unknown (may duplicate).",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for retries of deferred messages.")
@click.option(
    "--force",
    is_flag=True,
    help="Take over a campaign whose recorded sender cannot be checked (another host) "
    "or is gone although its process id is in use again.",
)
@transport_options
@pass_app
def resume_cmd(
    app: App,
    campaign_id: int,
    yes: bool,
    resend_unknown: bool,
    no_wait: bool,
    force: bool,
    **opts: Any,
) -> None:
    """Continue a paused, interrupted or deferred campaign where it stopped.

    Messages that were in flight when a sender died are marked unknown and
    not sent again unless --resend-unknown.

    \b
    Examples:
      newsletter campaigns resume 3
      newsletter campaigns resume 3 --yes --resend-unknown
    """
    from newsletter.campaigns import runs, sender, store

    db = open_db(app)
    transport = open_transport_for(app, opts)
    with db.session() as s:
        c = runs.check(s, campaign_id, resume=True, force=force)
        counts = store.status_counts(s, campaign_id)
    if not yes:
        left = counts.get("queued", 0) + counts.get("deferred", 0)
        unknown = counts.get("unknown", 0)
        if resend_unknown and unknown:
            again = f", {unknown} of them with an unknown outcome (they may get it twice)"
            left += unknown
        else:
            again = ""
        click.confirm(
            f'Resume campaign {c.id} (issue {c.issue_slug}, "{c.subject}"): {left} messages '
            f"to send{again} via {transport.describe()}?",
            abort=True,
        )
    with send_progress(f"campaign {campaign_id}") as update:
        result = sender.run_campaign(
            db,
            app.settings,
            campaign_id,
            transport,
            resume=True,
            resend_unknown=resend_unknown,
            force=force,
            wait_for_retries=not no_wait,
            on_progress=update,
        )
    _print_result(result)


@campaigns.command("list")
@output_options
@pass_app
def list_cmd(app: App, fmt: str) -> None:
    """All campaigns with their state and recipient counts.

    \b
    Example:
      newsletter campaigns list --format json
    """
    from newsletter.campaigns import store

    with open_db(app).session() as s:
        rows = [c.row() for c in store.list_campaigns(s)]
    columns = ["id", "kind", "issue", "list", "editions", "state", "recipients", "sent", "created"]
    write_rows(
        rows,
        columns,
        fmt,
        empty="No campaigns yet. Create one with: "
        "newsletter campaigns create ISSUE.yaml --list SLUG",
    )


@campaigns.command("show")
@click.argument("campaign_id", type=int)
@pass_app
def show_cmd(app: App, campaign_id: int) -> None:
    """One campaign: subject, state, transport, totals per delivery status, complaint rate.

    A complaint rate above 0.1 % prints a warning, above 0.3 % an error line
    (Gmail's limits for bulk senders).

    \b
    Example:
      newsletter campaigns show 3
    """
    from newsletter.campaigns import report
    from newsletter.inbound.summary import complaint_rate

    with open_db(app).engine.connect() as connection:
        c = report.summary(connection, campaign_id)
        complaints = complaint_rate(connection, campaign_id, sent=c.counts.get("sent", 0))
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


@campaigns.command("pause")
@click.argument("campaign_id", type=int)
@pass_app
def pause_cmd(app: App, campaign_id: int) -> None:
    """Pause a campaign; a running sender stops after its messages in flight.

    \b
    Example:
      newsletter campaigns pause 3
    """
    from newsletter.campaigns import store

    with open_db(app).session() as s:
        store.pause_campaign(s, campaign_id)
    click.echo(
        f"Campaign {campaign_id} paused; continue with: newsletter campaigns resume {campaign_id}"
    )


@campaigns.command("cancel")
@click.argument("campaign_id", type=int)
@pass_app
def cancel_cmd(app: App, campaign_id: int) -> None:
    """Cancel every delivery not yet sent; what was sent stays in the log.

    \b
    Example:
      newsletter campaigns cancel 3
    """
    from newsletter.campaigns import store

    with open_db(app).session() as s:
        n = store.cancel_campaign(s, campaign_id)
    click.echo(f"Campaign {campaign_id} cancelled; {n} deliveries will not be sent.")
