"""CLI for delivery: ``send`` (proofs) and ``log``, and what every sending command shares.

The shared parts are the ``[delivery]``/``[smtp]`` override options, opening
the transport and the database, and the progress bar (which says when a rate
limit or a retry holds sending back); ``campaigns`` and ``demo`` use them too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.output import output_options, write_rows

if TYPE_CHECKING:
    from newsletter.campaigns import sender
    from newsletter.db import Database
    from newsletter.transports import Transport

# Sending, transports and progress bars are imported by the commands that
# send: `log` and `campaigns show` load none of them.

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
        # the ranges of [smtp] port and pool (tests/test_cli_ranges.py keeps them equal)
        click.option(
            "--smtp-port",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            help="Override [smtp] port.",
        ),
        click.option(
            "--connections",
            type=click.IntRange(1, 100),
            help="SMTP connections in the pool (override [smtp] pool).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def open_transport_for(app: App, opts: dict[str, Any]) -> Transport:
    from newsletter.transports import open_transport

    return open_transport(
        app.settings,
        opts.get("transport"),
        outbox=opts.get("outbox"),
        host=opts.get("smtp_host"),
        port=opts.get("smtp_port"),
        connections=opts.get("connections"),
    )


def open_db(app: App, *, create: bool = False) -> Database:
    from newsletter.db import Database  # SQLAlchemy: not for --help, nor campaigns show

    return Database.from_settings(app.settings, create=create)


@contextmanager
def send_progress(label: str) -> Any:
    """A rich progress bar on stderr; yields the callback for ``run_campaign``.

    Without a terminal (cron, a pipe) there is no bar to draw: rich is not
    even imported, which keeps a long send's process smaller.
    """
    if not sys.stderr.isatty():
        yield None
        return
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

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            waiting = task.fields.get("waiting")
            if waiting:
                return Text(waiting, style="yellow")
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} msg/s" if speed else "", style="cyan")

    console = Console(stderr=True)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
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
            elif p.waiting == "database locked":
                waiting = (
                    f"waiting (database locked by another process) for {p.wait_seconds or 0:.0f} s"
                )
            elif p.waiting == "retry":
                deferred = p.counts.get("deferred", 0)
                waiting = (
                    f"waiting to retry {deferred} deferred, next in {p.wait_seconds or 0:.0f} s"
                )
            bar.update(task, total=p.total, completed=p.done, waiting=waiting)

        yield update


# -- proofs and the log -----------------------------------------------------


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
@click.option(
    "--edition",
    metavar="LANG",
    help="The issue's edition in this language (zh: 2021-07.zh.yaml); default: ISSUE itself.",
)
@transport_options
@pass_app
def proof_cmd(
    app: App, issue: Path, address: str, list_slug: str | None, edition: str | None, **opts: Any
) -> None:
    """Send one proof of ISSUE exactly as subscribers would get it.

    \b
    Examples:
      newsletter send issues/2021-07.yaml --to editor@example.org
      newsletter send issues/2021-07.yaml --to editor@example.org --edition zh
    """
    from newsletter.campaigns import sender, store
    from newsletter.workbench.publish import proof_edition

    rendered = proof_edition(issue, app.settings, edition)
    db = open_db(app, create=True)
    transport = open_transport_for(app, opts)
    with db.session() as s:
        c = store.create_proof(s, rendered, address, list_slug=list_slug, source=str(issue))
    result = sender.run_campaign(db, app.settings, c.id or 0, transport)
    with db.session() as s:
        (row,) = list(store.iter_log(s, c.id or 0))
    click.echo(
        f"Proof of {rendered.slug}{f' ({edition})' if edition else ''} to {address}: {row.status} "
        f"({row.smtp_reply or ''}) — logged with issue {rendered.slug} as proof "
        f"{-result.campaign_id} (newsletter log -- {result.campaign_id})"
    )
    if row.status != "sent":
        sys.exit(1)


@cli.command("log")
@click.argument("campaign_id", type=int, required=False)
@click.option(
    "--kind",
    type=click.Choice(["campaign", "confirmation", "invitation", "reminder", "welcome", "all"]),
    default="campaign",
    show_default=True,
    help="campaign: the log of CAMPAIGN_ID; confirmation, invitation, reminder, welcome: the "
    "mails about sign-ups (they belong to no campaign); all: every delivery, with kind and "
    "campaign columns.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only these statuses (repeatable).",
)
@click.option(
    "--search",
    metavar="TEXT",
    help="Only addresses containing TEXT (any case; an IDN domain in either form).",
)
@output_options
@pass_app
def log_cmd(
    app: App,
    campaign_id: int | None,
    kind: str,
    statuses: tuple[str, ...],
    search: str | None,
    fmt: str,
) -> None:
    """The delivery log of a campaign: one row per recipient, replies verbatim.

    It records each attempt's outcome and nothing about reading: no opens,
    no clicks. The edition column is the language edition the recipient
    was given; the bounce column names a bounce or complaint that came back
    for the delivery later (see: newsletter bounces show ID). With --kind
    confirmation or welcome, the mails `newsletter serve` sent about a
    sign-up instead (queued, deferred with their next attempt, sent …).

    \b
    Examples:
      newsletter log 3 --status deferred --status unknown
      newsletter log 3 --format csv > log.csv
      newsletter log 3 --search zoe@xn--bcher-kva.example.com
      newsletter log --kind confirmation --status deferred --status failed
      newsletter log --kind all --format json
    """
    from newsletter.campaigns import report
    from newsletter.inbound.summary import bounces_by_delivery

    if kind == "campaign" and campaign_id is None:
        raise click.UsageError(
            "give a CAMPAIGN_ID, or --kind confirmation, invitation, reminder, welcome or all"
        )
    if kind != "campaign" and campaign_id is not None:
        raise click.UsageError(
            f"--kind {kind} lists deliveries of every campaign or none; leave out CAMPAIGN_ID"
        )
    scope = None if kind == "campaign" else kind
    with open_db(app).engine.connect() as connection:
        bounces = bounces_by_delivery(connection, campaign_id, every=kind == "all")
        if fmt != "table":
            report.write_log(
                connection,
                campaign_id,
                sys.stdout,
                fmt=fmt,
                statuses=list(statuses),
                bounces=bounces,
                search=search,
                kind=scope,
            )
            return
        names = report.COLUMNS if scope is None else report.KIND_COLUMNS
        rows = [
            # Tables are read by people: say why an address is missing.
            {**dict(zip(names, row, strict=True)), "address": row[1] or "(forgotten)"}
            for row in report.log_rows(
                connection, campaign_id, list(statuses), bounces, search, kind=scope
            )
        ]
        if scope is None:
            columns = ["id", "address", "edition", "status", "attempts", "reply", "bounce"]
            if any(r.get("zone") for r in rows):
                columns.insert(3, "zone")  # sent at local times: the zone each was timed in
        else:
            columns = ["id", "kind", "queued", "address", "status", "attempts", "reply"]
            columns += ["next_attempt", *(["campaign"] if kind == "all" else [])]
        write_rows(rows, columns, fmt, empty="No deliveries match.")
