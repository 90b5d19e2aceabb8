"""CLI for ``demo``: the whole pipeline on sample data, into a Maildir outbox."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.app import cli
from newsletter.cli.delivery import send_progress


@cli.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where the demo database and outbox go.",
)
def demo_cmd(directory: Path) -> None:
    """Run the whole pipeline on sample data into a Maildir outbox.

    Imports the 50 sample subscribers that come with newsletter, renders the
    sample issue (ISA, July 2021, in German and Chinese) and delivers it to
    DIR/outbox, each subscriber in their language, with a copy
    of every message as DIR/eml/*.eml. Each run starts DIR afresh (its own
    database and outbox), so it can be repeated, works in any folder and never
    touches your settings or your real database.

    \b
    Example:
      newsletter demo
    """
    from newsletter.demo import run_demo

    with send_progress("demo") as update:
        report = run_demo(directory, on_progress=update)
    imp = report.imported
    db_option = f"--database sqlite:///{report.database}"
    click.echo(
        f"Imported {imp.new} sample subscribers ({len(imp.rejected)} rows rejected); "
        f"{report.recipients} are confirmed and not suppressed."
    )
    click.echo(
        f'Rendered the sample issue {report.slug} ("{report.subject}") and sent it as '
        f"campaign {report.campaign_id}:"
    )
    for status, n in sorted(report.result.counts.items()):
        click.echo(f"  {status:<10} {n:>6}")
    if len(report.editions) > 1:  # each subscriber got their language's edition
        for language, n in report.editions:
            click.echo(f"  {f'{language} edition':<10} {n:>6}")
    click.echo("Where to look:")
    click.echo(f"  messages  {report.eml}/ (one .eml file per message; double-click one)")
    click.echo(f"  maildir   {report.outbox}/ (the same as a Maildir: mutt -f {report.outbox})")
    click.echo(f"  log       newsletter {db_option} log {report.campaign_id}")
    click.echo(f"  totals    newsletter {db_option} campaigns show {report.campaign_id}")
