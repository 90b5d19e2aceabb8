"""CLI for ``newsletter worker``: one delivery worker process."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.delivery import open_db, open_transport_for, transport_options


@cli.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    help="Batches sent at once, each over its own connections (default: [workers] concurrency).",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Take jobs only from this queue (repeatable; default: every queue).",
)
@transport_options
@pass_app
def worker_cmd(app: App, concurrency: int | None, queues: tuple[str, ...], **opts: Any) -> None:
    """Send campaigns handed to workers, and start scheduled ones, until stopped.

    On PostgreSQL any number of workers on any number of hosts share a
    campaign queued with `campaigns send --enqueue`, batch by batch; a worker
    that dies loses its batch to another, and its messages in flight are
    logged unknown, never sent twice. The rate limits of [delivery] and
    [smtp] max_connections hold for all of them together. On SQLite one
    worker starts scheduled campaigns. Once a day one worker also reminds
    and expires the unconfirmed (see: newsletter subscribers expire).
    SIGTERM or Ctrl-C stops after the messages in flight.

    \b
    Examples:
      newsletter worker
      newsletter worker --concurrency 2 --queue newsletter --connections 4
    """
    from newsletter.workers import worker

    db = open_db(app)
    transport = open_transport_for(app, opts)
    options = worker.options_from(app.settings, concurrency, queues)

    def say(line: str) -> None:
        click.echo(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}")
        sys.stdout.flush()

    def send_notices() -> int:
        from newsletter.web.mailer import Outbox
        from newsletter.web.pages import Pages
        from newsletter.web.welcome import load_welcomes

        settings = app.settings
        return Outbox(db, settings, Pages(settings), load_welcomes(settings)).send_now()

    worker.run(db, app.settings, transport, options, on_event=say, send_notices=send_notices)
