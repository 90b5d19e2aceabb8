"""CLI for delivery: ``campaigns …``, ``send`` (proofs), ``log`` and ``demo``.

Each command opens the database, calls one library function and prints.
The only logic here is presentation: the confirmation prompt, the progress
bar (which says when a rate limit or a retry holds sending back), listings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from newsletter.campaigns import sender, store
from newsletter.cli import App, cli, handle_errors, pass_app
from newsletter.cli.output import output_options, write_rows
from newsletter.db import Database
from newsletter.transports import Transport, open_transport

F = TypeVar("F", bound=Callable[..., Any])
STATUSES = [
    "queued",
    "sending",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "unknown",
    "skipped",
    "cancelled",
]


def transport_options(func: F) -> F:
    """The same overrides of ``[delivery]``/``[smtp]`` on every command that sends."""
    options = [
        click.option(
            "--transport",
            type=click.Choice(["smtp", "maildir", "dry-run"]),
            help="Override [delivery] transport.",
        ),
        click.option(
            "--outbox",
            type=click.Path(file_okay=False, path_type=Path),
            help="Maildir outbox directory (maildir transport).",
        ),
        click.option("--smtp-host", metavar="HOST", help="Override [smtp] host."),
        click.option("--smtp-port", type=int, metavar="PORT", help="Override [smtp] port."),
        click.option(
            "--connections",
            type=click.IntRange(1, 64),
            help="SMTP connections in the pool (override [smtp] pool).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _transport(app: App, opts: dict[str, Any]) -> Transport:
    return open_transport(
        app.settings,
        opts.get("transport"),
        outbox=opts.get("outbox"),
        host=opts.get("smtp_host"),
        port=opts.get("smtp_port"),
        connections=opts.get("connections"),
    )


def _db(app: App) -> Database:
    return Database.from_settings(app.settings)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        waiting = task.fields.get("waiting")
        if waiting:
            return Text(waiting, style="yellow")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} msg/s" if speed else "", style="cyan")


@contextmanager
def _progress_bar(label: str) -> Any:
    """A rich progress bar on stderr; yields the callback for ``run_campaign``."""
    console = Console(stderr=True)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(label, total=None, waiting="")

        def update(p: sender.Progress) -> None:
            waiting = ""
            if p.waiting == "rate limit":
                waiting = f"waiting (rate limit), next send in {p.wait_seconds or 0:.0f} s"
            elif p.waiting == "retry":
                deferred = p.counts.get("deferred", 0)
                waiting = (
                    f"waiting to retry {deferred} deferred, next in {p.wait_seconds or 0:.0f} s"
                )
            bar.update(task, total=p.total, completed=p.done, waiting=waiting)

        yield update


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


# -- campaigns ---------------------------------------------------------------


@cli.group("campaigns")
def campaigns() -> None:
    """Create, send and follow campaigns (one issue to one list)."""


@campaigns.command("create")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_slug", required=True, metavar="SLUG", help="The mailing list.")
@click.option("--again", is_flag=True, help="Allow sending an issue to the same list twice.")
@pass_app
@handle_errors
def create_cmd(app: App, issue: Path, list_slug: str, again: bool) -> None:
    """Render ISSUE and snapshot it with the list's current recipients.

    Recipients are the confirmed, non-suppressed subscribers at this moment;
    anyone who unsubscribes before the send is still skipped.

    \b
    Example:
      newsletter campaigns create issues/2021-07.yaml --list isa
    """
    from newsletter.issuefile import load_issue
    from newsletter.render import render_issue

    rendered = render_issue(load_issue(issue), app.settings)
    with _db(app).session() as s:
        c = store.create_campaign(s, rendered, list_slug, source=str(issue), again=again)
    click.echo(
        f"Created campaign {c.id}: issue {c.issue_slug} to list {c.list_slug}, "
        f"{c.recipients} recipients."
    )
    click.echo(f"Send it with: newsletter campaigns send {c.id}")


@campaigns.command("send")
@click.argument("campaign_id", type=int)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Compose every message, send none.")
@click.option("--no-wait", is_flag=True, help="Do not wait for retries of deferred messages.")
@transport_options
@pass_app
@handle_errors
def send_cmd(
    app: App, campaign_id: int, yes: bool, dry_run: bool, no_wait: bool, **opts: Any
) -> None:
    """Send a draft campaign. Ctrl-C pauses after the messages in flight.

    \b
    Examples:
      newsletter campaigns send 3 --dry-run
      newsletter campaigns send 3 --transport smtp --connections 4
    """
    db = _db(app)
    if dry_run:
        report = sender.dry_run_campaign(db, app.settings, campaign_id)
        click.echo(
            f"Dry run: composed {report.messages} messages, {report.bytes:,} bytes, "
            f"{report.per_message_us:.0f} µs per message; nothing was sent."
        )
        return
    transport = _transport(app, opts)
    with db.session() as s:
        c = store.get_campaign(s, campaign_id)
        counts = store.status_counts(s, campaign_id)
    if not yes:
        click.confirm(
            f'Send campaign {c.id} (issue {c.issue_slug}, "{c.subject}") to '
            f"{counts.get('queued', 0)} recipients via {transport.describe()}?",
            abort=True,
        )
    with _progress_bar(f"campaign {campaign_id}") as update:
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
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Also send the messages whose outcome is unknown (may duplicate).",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for retries of deferred messages.")
@click.option(
    "--force", is_flag=True, help="Take over a campaign marked as sending on another host."
)
@transport_options
@pass_app
@handle_errors
def resume_cmd(
    app: App, campaign_id: int, resend_unknown: bool, no_wait: bool, force: bool, **opts: Any
) -> None:
    """Continue a paused, interrupted or deferred campaign where it stopped.

    Messages that were in flight when a sender died are marked unknown and
    not sent again unless --resend-unknown.

    \b
    Example:
      newsletter campaigns resume 3
    """
    db = _db(app)
    transport = _transport(app, opts)
    with _progress_bar(f"campaign {campaign_id}") as update:
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
@handle_errors
def list_cmd(app: App, fmt: str) -> None:
    """All campaigns with their state and recipient counts.

    \b
    Example:
      newsletter campaigns list --format json
    """
    with _db(app).session() as s:
        rows = [c.row() for c in store.list_campaigns(s)]
    columns = ["id", "kind", "issue", "list", "state", "recipients", "sent", "created"]
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
@handle_errors
def show_cmd(app: App, campaign_id: int) -> None:
    """One campaign: subject, state, transport and totals per delivery status.

    \b
    Example:
      newsletter campaigns show 3
    """
    with _db(app).session() as s:
        c = store.summarize(s, store.get_campaign(s, campaign_id))
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


@campaigns.command("pause")
@click.argument("campaign_id", type=int)
@pass_app
@handle_errors
def pause_cmd(app: App, campaign_id: int) -> None:
    """Pause a campaign; a running sender stops after its messages in flight.

    \b
    Example:
      newsletter campaigns pause 3
    """
    with _db(app).session() as s:
        store.pause_campaign(s, campaign_id)
    click.echo(
        f"Campaign {campaign_id} paused; continue with: newsletter campaigns resume {campaign_id}"
    )


@campaigns.command("cancel")
@click.argument("campaign_id", type=int)
@pass_app
@handle_errors
def cancel_cmd(app: App, campaign_id: int) -> None:
    """Cancel every delivery not yet sent; what was sent stays in the log.

    \b
    Example:
      newsletter campaigns cancel 3
    """
    with _db(app).session() as s:
        n = store.cancel_campaign(s, campaign_id)
    click.echo(f"Campaign {campaign_id} cancelled; {n} deliveries will not be sent.")


# -- proofs, the log, the demo -------------------------------------------------


@cli.command("send")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "address",
    required=True,
    metavar="ADDRESS",
    help="Who gets the proof (logged as a proof, not a campaign).",
)
@click.option("--list", "list_slug", metavar="SLUG", help="List whose List-Id the proof carries.")
@transport_options
@pass_app
@handle_errors
def proof_cmd(app: App, issue: Path, address: str, list_slug: str | None, **opts: Any) -> None:
    """Send one proof of ISSUE exactly as subscribers would get it.

    \b
    Example:
      newsletter send issues/2021-07.yaml --to editor@example.org
    """
    from newsletter.issuefile import load_issue
    from newsletter.render import render_issue

    rendered = render_issue(load_issue(issue), app.settings)
    db = _db(app)
    transport = _transport(app, opts)
    with db.session() as s:
        c = store.create_proof(s, rendered, address, list_slug=list_slug, source=str(issue))
    result = sender.run_campaign(db, app.settings, c.id or 0, transport)
    with db.session() as s:
        (row,) = list(store.iter_log(s, c.id or 0))
    click.echo(
        f"Proof of {rendered.slug} to {address}: {row.status} "
        f"({row.smtp_reply or ''}) — logged as campaign {result.campaign_id}"
    )
    if row.status != "sent":
        sys.exit(1)


@cli.command("log")
@click.argument("campaign_id", type=int)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only these statuses (repeatable).",
)
@output_options
@pass_app
@handle_errors
def log_cmd(app: App, campaign_id: int, statuses: tuple[str, ...], fmt: str) -> None:
    """The delivery log of a campaign: one row per recipient, replies verbatim.

    It records each attempt's outcome and nothing about reading: no opens,
    no clicks.

    \b
    Examples:
      newsletter log 3 --status deferred --status unknown
      newsletter log 3 --format csv > log.csv
    """
    columns = [
        "id",
        "address",
        "status",
        "attempts",
        "code",
        "reply",
        "queue_id",
        "message_id",
        "queued",
        "claimed",
        "finished",
    ]

    def rows() -> Iterable[dict[str, Any]]:
        with _db(app).session() as s:
            for d in store.iter_log(s, campaign_id, list(statuses) or None):
                yield {
                    "id": d.id,
                    "address": d.address,
                    "status": d.status,
                    "attempts": d.attempts,
                    "code": d.smtp_code,
                    "reply": d.smtp_reply,
                    "queue_id": d.queue_id,
                    "message_id": d.message_id,
                    "queued": d.queued_at,
                    "claimed": d.claimed_at,
                    "finished": d.finished_at,
                    "history": d.history,
                }

    if fmt == "table":
        columns = ["id", "address", "status", "attempts", "reply"]
    write_rows(rows(), columns, fmt, empty="No deliveries match.")


@cli.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where the demo database and outbox go.",
)
@pass_app
@handle_errors
def demo_cmd(app: App, directory: Path) -> None:
    """Run the whole pipeline on sample data into a Maildir outbox.

    Imports subscribers/sample.csv, renders the newest issues/*.yaml and
    delivers it to DIR/outbox. Each run starts DIR afresh (its own database
    and outbox), so it can be repeated and never touches your real database.

    \b
    Example:
      newsletter demo
    """
    from newsletter.demo import run_demo

    root = app.settings.base_dir
    with _progress_bar("demo") as update:
        report = run_demo(app.settings, root, directory=directory, on_progress=update)
    imp = report.imported
    db_option = f"--database sqlite:///{report.database}"
    click.echo(
        f"Imported {imp.new} sample subscribers ({len(imp.rejected)} rows rejected); "
        f"{report.recipients} are confirmed and not suppressed."
    )
    issue = (
        report.issue.relative_to(Path.cwd())
        if report.issue.is_relative_to(Path.cwd())
        else report.issue
    )
    click.echo(f"Rendered {issue} and sent it as campaign {report.campaign_id}:")
    for status, n in sorted(report.result.counts.items()):
        click.echo(f"  {status:<10} {n:>6}")
    click.echo("Where to look:")
    click.echo(f"  messages  {report.outbox}/new/ (one file per message; any mail client opens it)")
    click.echo(f"  log       newsletter {db_option} log {report.campaign_id}")
    click.echo(f"  totals    newsletter {db_option} campaigns show {report.campaign_id}")
