"""CLI for inbound mail: ``inbound process`` and ``bounces list|show|undo``.

Each command opens the database, calls one library function and prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.output import output_options, progress_bar, progress_enabled, write_rows

KINDS = [
    "hard",
    "soft",
    "delayed",
    "auto-reply",
    "complaint",
    "unsubscribe",
    "challenge",
    "unverified",
]


@cli.group("inbound")
def inbound_group() -> None:
    """Read bounces, complaints and unsubscribe mails from mailboxes."""


@inbound_group.command("process")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="Progress bar on stderr (default: only on a terminal).",
)
@pass_app
def process_cmd(app: App, sources: tuple[str, ...], show_progress: bool | None) -> None:
    """Classify every message in each SOURCE and apply the bounce policy.

    SOURCE is a Maildir, an mbox file, or an IMAP mailbox URL such as
    imaps://bounces@mail.example.org/INBOX (password from
    $NEWSLETTER_IMAP_PASSWORD or the 0600 file named by
    $NEWSLETTER_IMAP_PASSWORD_FILE; plain imap:// only to 127.0.0.1).

    Only messages recognised as ours are moved: to the Maildir's
    .Processed folder, or flagged and moved to the [inbound]
    imap_processed_folder. Anything else stays exactly as it was. Running
    it twice changes nothing the second time.

    \b
    Examples:
      newsletter inbound process ~/Maildir/bounces
      newsletter inbound process imaps://bounces@mail.example.org/INBOX
    """
    from newsletter.db import Database
    from newsletter.inbound.mailboxes import open_source
    from newsletter.inbound.process import ProcessReport, process_source
    from newsletter.inbound.sources import Source

    settings = app.settings
    opened: list[Source] = []
    report = ProcessReport()
    try:
        for spec in sources:
            opened.append(open_source(spec, settings.inbound))
        db = Database.from_settings(settings, create=True)
        try:
            with progress_bar(
                "processing", enabled=progress_enabled(show_progress), unit="messages"
            ) as update:
                for source in opened:
                    process_source(
                        db,
                        settings,
                        source,
                        report,
                        on_progress=(lambda d, t: update(d, t or d)) if update else None,
                    )
        finally:
            db.dispose()
    finally:
        for source in opened:
            source.close()
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
    recorded = sum(report.kinds.values())
    click.echo(f"Processed {report.seen} messages: {recorded} recorded ({kinds}).")
    decisions = ", ".join(f"{n} {d}" for d, n in sorted(report.decisions.items()))
    if decisions:
        click.echo(f"Decisions: {decisions}.")
    click.echo(
        f"Moved {report.moved}; {report.duplicates} already processed; "
        f"{report.not_ours} not ours, left untouched."
    )
    for error in report.errors:
        click.echo(f"warning: {error} (left untouched)", err=True)


@cli.group("bounces")
def bounces_group() -> None:
    """Review the bounce log and undo a suppression it caused."""


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--since") from exc


@bounces_group.command("list")
@click.option("--since", metavar="YYYY-MM-DD", help="Only bounces received on or after.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="Only this kind; 'unverified': matched only by recipient or List-Id, not acted on.",
)
@output_options
@pass_app
def list_cmd(app: App, since: str | None, kind: str | None, fmt: str) -> None:
    """Recorded bounces, complaints and replies, newest first.

    \b
    Examples:
      newsletter bounces list --kind hard --since 2026-01-01
      newsletter bounces list --format csv > bounces.csv
    """
    from newsletter.cli.database import session
    from newsletter.inbound.review import iter_bounces

    when = _since(since)
    columns = [
        "id",
        "received",
        "kind",
        "address",
        "status",
        "reason",
        "decision",
        "score",
        "campaign",
        "delivery",
        "attribution",
        "diagnostic",
    ]

    def rows() -> Iterable[dict[str, Any]]:
        with session(app) as s:
            for b in iter_bounces(s, since=when, kind=kind):
                yield {
                    "id": b.id,
                    "received": b.received_at,
                    "kind": b.kind,
                    "address": b.address,
                    "status": b.status,
                    "reason": b.reason,
                    "decision": b.decision,
                    "score": b.score,
                    "campaign": b.campaign_id,
                    "delivery": b.delivery_id,
                    "attribution": b.attribution,
                    "diagnostic": b.diagnostic,
                }

    if fmt == "table":
        columns = ["id", "received", "kind", "address", "status", "reason", "decision", "campaign"]
    write_rows(rows(), columns, fmt, empty="No bounces recorded.")


@bounces_group.command("show")
@click.argument("bounce_id", type=int)
@pass_app
def show_cmd(app: App, bounce_id: int) -> None:
    """One bounce: classification, reasons, decision, and the message as it arrived.

    \b
    Example:
      newsletter bounces show 12
    """
    from newsletter.cli.database import session
    from newsletter.inbound.review import get_bounce, raw_message

    with session(app) as s:
        b = get_bounce(s, bounce_id)
        raw = raw_message(b)
    click.echo(f"Bounce {b.id}: {b.kind}, {b.decision}")
    click.echo(f"Received:    {b.received_at:%Y-%m-%d %H:%M:%S} UTC from {b.source}")
    click.echo(f"Address:     {b.address or '(unknown)'} (by {b.attribution})")
    if b.campaign_id:
        click.echo(f"Delivery:    {b.delivery_id} of campaign {b.campaign_id}")
    if b.reason:
        click.echo(f"Reason:      {b.reason}")
    if b.status or b.diagnostic:
        click.echo(f"Status:      {b.status or ''} {b.diagnostic or ''}".rstrip())
    if b.score is not None:
        click.echo(f"Score:       {b.score:g}")
    if b.undone_at:
        click.echo(f"Undone:      {b.undone_at:%Y-%m-%d %H:%M:%S} UTC")
    click.echo("Reasons:")
    for line in (b.reasons or "").splitlines():
        click.echo(f"  {line}")
    if raw is not None:
        click.echo("Message:")
        click.echo(raw.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n"))


@bounces_group.command("undo")
@click.argument("bounce_id", type=int)
@pass_app
def undo_cmd(app: App, bounce_id: int) -> None:
    """Lift the suppression a bounce caused (logged in the consent log).

    Its bounce score is forgiven too. A complaint's unsubscriptions stay:
    coming back needs the person's consent.

    \b
    Example:
      newsletter bounces undo 12
    """
    from newsletter.cli.database import session
    from newsletter.inbound.review import undo

    with session(app) as s:
        done = undo(s, bounce_id)
    if done.lifted:
        click.echo(f"Bounce {done.bounce_id} undone: {done.address} is no longer suppressed.")
    else:
        click.echo(f"Bounce {done.bounce_id} undone; {done.address} was no longer suppressed.")
