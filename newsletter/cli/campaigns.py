"""CLI for campaigns: ``campaigns create|send|resume|list|pause|cancel``.

Each command opens the database, calls one library function and prints. The
only logic here is presentation: the confirmation prompt and the progress bar.
The summary of a run is in :mod:`newsletter.cli.run_summary`, ``campaigns show``
in :mod:`newsletter.cli.campaign_show` and ``campaigns schedule`` in
:mod:`newsletter.cli.schedule`; each attaches to the group defined here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.delivery import (
    open_db,
    open_transport_for,
    send_progress,
    transport_options,
)
from newsletter.cli.output import (
    ask_or_nothing_sent,
    output_options,
    progress_enabled,
    spinner,
    write_rows,
)
from newsletter.cli.run_summary import finish

# The campaign store and the sender are imported by the commands that use
# them, so loading this module to list the group's commands stays cheap.


@cli.group("campaigns")
def campaigns() -> None:
    """Create, send and follow campaigns (one issue to one list)."""


@campaigns.command("create")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_slug", required=True, metavar="SLUG", help="The mailing list.")
@click.option("--again", is_flag=True, help="Allow sending an issue to the same list twice.")
@click.option(
    "--where",
    metavar="EXPRESSION",
    help="Only the subscribers this expression selects, e.g. \"language = 'zh' and tag = "
    "'member'\" (see docs/subscribers.md, Segments).",
)
@click.option("--segment", metavar="NAME", help="Only a saved segment's subscribers.")
@pass_app
def create_cmd(
    app: App, issue: Path, list_slug: str, again: bool, where: str | None, segment: str | None
) -> None:
    """Render ISSUE and snapshot it with the list's current recipients.

    Recipients are the confirmed, non-suppressed subscribers at this moment
    (of a segment: --where or --segment); anyone who unsubscribes before the
    send is still skipped. An issue with language editions (2021-07.yaml,
    2021-07.zh.yaml) becomes one campaign: each recipient gets the edition
    in their language, else in the list's, else the first (primary) one.

    \b
    Examples:
      newsletter campaigns create issues/2021-07.yaml --list isa
      newsletter campaigns create issues/2021-07.yaml --list isa \\
        --where "language = 'zh' and tag = 'member' and subscribed_before = 2021-01-01"
      newsletter campaigns create issues/2021-07.yaml --list isa --segment members-zh
    """
    if where is not None and segment is not None:
        raise click.UsageError("give --where or --segment, not both")
    from newsletter.campaigns import store
    from newsletter.workbench.publish import create_campaign_from_file

    with (
        spinner(f"Creating the campaign of {issue.name}", enabled=progress_enabled(None)),
        open_db(app).session() as s,
    ):
        c, r = create_campaign_from_file(
            s, issue, list_slug, app.settings, again=again, where=where, segment=segment
        )
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


def _enqueue_options(func: Any) -> Any:
    func = click.option(
        "--queue",
        metavar="NAME",
        help="The workers' queue (default: [workers] queue).",
    )(func)
    return click.option(
        "--enqueue",
        is_flag=True,
        help="Hand the campaign to `newsletter worker` processes (PostgreSQL) instead of "
        "sending it from this one.",
    )(func)


def _enqueue(app: App, campaign_id: int, yes: bool, queue: str | None, *, resume: bool) -> None:
    """``send --enqueue`` / ``resume --enqueue``: batches and their jobs, in one transaction."""
    from newsletter.campaigns import runs, store
    from newsletter.workers import batches, jobs, schedule

    w = app.settings.workers
    queue = queue or w.queue
    db = open_db(app)
    with db.session() as s:
        jobs.require_postgresql(s.connection(), "--enqueue")
        c = (
            store.get_campaign(s, campaign_id)
            if resume
            else runs.check(s, campaign_id, resume=False)
        )
        schedule.refuse_if_scheduled(c)
        counts = store.status_counts(s, campaign_id)
    if not yes:
        left = sum(counts.get(k, 0) for k in ("queued", "deferred", "sending"))
        ask_or_nothing_sent(
            f'Queue campaign {c.id} (issue {c.issue_slug}, "{c.subject}") for the workers: '
            f"{left} recipients, in batches of {w.batch_size:,}, on queue {queue}?",
        )
    with db.session() as s:
        done = batches.enqueue(
            s,
            campaign_id,
            queue=queue,
            size=w.batch_size,
            transport=f"workers (queue {queue})",
            resume=resume,
        )
    click.echo(
        f"Campaign {campaign_id}: {done.deliveries} deliveries queued for the workers in "
        f"{done.batches} batch(es) on queue {queue}."
    )
    click.echo(f"Workers send it: newsletter worker --queue {queue}")
    click.echo(f"Follow it with:  newsletter campaigns show {campaign_id}")


@campaigns.command("send")
@click.argument("campaign_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Compose every message, send none.")
@click.option("--no-wait", is_flag=True, help="Do not wait for retries of deferred messages.")
@click.option(
    "--online",
    is_flag=True,
    help="Check that the hosted images are published (HEAD each) and refuse to start if not.",
)
@_enqueue_options
@transport_options
@pass_app
def send_cmd(
    app: App,
    campaign_id: int,
    yes: bool,
    dry_run: bool,
    no_wait: bool,
    online: bool,
    enqueue: bool,
    queue: str | None,
    **opts: Any,
) -> None:
    """Send a draft campaign. Ctrl-C pauses after the messages in flight (exit status 130).

    With --enqueue (PostgreSQL) the campaign is cut into batches that any
    number of `newsletter worker` processes, on any number of hosts, send.

    \b
    Examples:
      newsletter campaigns send 3 --dry-run
      newsletter campaigns send 3 --transport smtp --connections 4
      newsletter campaigns send 3 --enqueue --yes
    """
    from newsletter.campaigns import runs, sender, store
    from newsletter.workbench.published import hosted_images, require_published
    from newsletter.workers.schedule import refuse_if_scheduled

    db = open_db(app)
    if dry_run:
        report = sender.dry_run_campaign(db, app.settings, campaign_id)
        click.echo(
            f"Dry run: composed {report.messages} messages, {report.bytes:,} bytes, "
            f"{report.per_message_us:.0f} µs per message; nothing was sent."
        )
        return
    with db.session() as s:
        images = hosted_images(s, store.get_campaign(s, campaign_id), app.settings)
    if images and online:
        require_published(images)
    elif images:
        click.echo(
            f"Note: the mail loads {len(images)} image(s) from {app.settings.delivery.base_url}"
            "/archive/media/; publish the archive before sending (--online checks).",
            err=True,
        )
    if enqueue:
        _enqueue(app, campaign_id, yes, queue, resume=False)
        return
    transport = open_transport_for(app, opts)
    with db.session() as s:
        c = runs.check(s, campaign_id, resume=False)
        refuse_if_scheduled(c)
        counts = store.status_counts(s, campaign_id)
    if not yes:
        ask_or_nothing_sent(
            f'Send campaign {c.id} (issue {c.issue_slug}, "{c.subject}") to '
            f"{counts.get('queued', 0)} recipients via {transport.describe()}?",
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
    finish(result)


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
@_enqueue_options
@transport_options
@pass_app
def resume_cmd(
    app: App,
    campaign_id: int,
    yes: bool,
    resend_unknown: bool,
    no_wait: bool,
    force: bool,
    enqueue: bool,
    queue: str | None,
    **opts: Any,
) -> None:
    """Continue a paused, interrupted or deferred campaign where it stopped.

    Messages that were in flight when a sender died are marked unknown and
    not sent again unless --resend-unknown. A campaign the workers were
    sending, and that was paused, goes back to them with --enqueue.

    \b
    Examples:
      newsletter campaigns resume 3
      newsletter campaigns resume 3 --yes --resend-unknown
      newsletter campaigns resume 3 --enqueue
    """
    from newsletter.campaigns import runs, sender, store

    if enqueue:
        if resend_unknown or force:
            raise click.UsageError("--enqueue goes without --resend-unknown and --force")
        _enqueue(app, campaign_id, yes, queue, resume=True)
        return
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
        ask_or_nothing_sent(
            f'Resume campaign {c.id} (issue {c.issue_slug}, "{c.subject}"): {left} messages '
            f"to send{again} via {transport.describe()}?",
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
    finish(result)


@campaigns.command("list")
@click.option(
    "--proofs",
    is_flag=True,
    help="Also list the proofs (newsletter send --to), whose ids are negative.",
)
@output_options
@pass_app
def list_cmd(app: App, proofs: bool, fmt: str) -> None:
    """All campaigns with their state and recipient counts (proofs with --proofs).

    \b
    Examples:
      newsletter campaigns list --format json
      newsletter campaigns list --proofs
    """
    from newsletter.campaigns import store

    with open_db(app).session() as s:
        rows = [c.row() for c in store.list_campaigns(s, proofs=proofs)]
    columns = ["id", "kind", "issue", "list", "editions", "state", "recipients", "sent", "created"]
    write_rows(
        rows,
        columns,
        fmt,
        empty="No campaigns yet. Create one with: "
        "newsletter campaigns create ISSUE.yaml --list SLUG",
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
