"""CLI for ``demo``: the whole pipeline on sample data, into a Maildir outbox."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.app import App, cli, pass_app
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
@pass_app
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
    with send_progress("demo") as update:
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
