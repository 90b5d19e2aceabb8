"""``newsletter doctor``: the deliverability checks, printed as a table, CSV or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.cli.output import output_options, write_rows

if TYPE_CHECKING:
    from newsletter.doctor.findings import Finding

COLUMNS = ["status", "check", "message", "fix"]


def _largest(app: App, issue: Path | None) -> int | None:
    """Bytes of one composed message of ``issue``, as a subscriber would get it."""
    if issue is None:
        return None
    from newsletter.issue.load import load_issue
    from newsletter.render import render_issue
    from newsletter.workbench.spam import compose_sample

    rendered = render_issue(load_issue(issue), app.settings)
    return len(compose_sample(rendered, app.settings))


def _volume(app: App) -> tuple[int, list[Finding]]:
    from newsletter.db import Database
    from newsletter.doctor.volume import volume_findings

    db = Database.from_settings(app.settings)
    try:
        with db.session() as s:
            return volume_findings(s)
    finally:
        db.dispose()


@cli.command("doctor")
@click.option("--domain", help="Check this From domain instead of organisation.sender_email's.")
@click.option(
    "--ip",
    "ips",
    multiple=True,
    help="An address receivers see the mail come from (repeat for several); default: the "
    "relay's public addresses.",
)
@click.option(
    "--nameserver",
    metavar="HOST[:PORT]",
    help="Ask this DNS server instead of [dns] nameserver or the system's resolver.",
)
@click.option("--online", is_flag=True, help="Also POST a one-click unsubscribe to base_url.")
@click.option(
    "--issue",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Compare this issue's message size with the relay's SIZE limit.",
)
@click.option("--no-database", is_flag=True, help="Skip the list-size and complaint checks.")
@output_options
@pass_app
def doctor_cmd(
    app: App,
    domain: str | None,
    ips: tuple[str, ...],
    nameserver: str | None,
    online: bool,
    issue: Path | None,
    no_database: bool,
    fmt: str,
) -> None:
    """Check SPF, DKIM, DMARC, PTR, MX, the relay and one-click unsubscribe.

    Each finding is ok, info, warning or error, with the one-line fix. Exits 1
    when any check is an error, so a deployment script can stop on it.

    \b
    Examples:
      newsletter doctor
      newsletter doctor --ip 203.0.113.7 --online
      newsletter doctor --domain example.org --format json
    """
    from newsletter.doctor import Options, diagnose, worst
    from newsletter.doctor.resolver import is_ip

    for ip in ips:
        if not is_ip(ip):
            raise click.BadParameter(f"{ip!r} is not an IP address", param_hint="--ip")
    volume, extra = (0, []) if no_database else _volume(app)
    options = Options(
        domain=domain,
        ips=ips,
        nameserver=nameserver,
        online=online,
        daily_volume=volume,
        largest_message=_largest(app, issue),
    )
    findings = diagnose(app.settings, options) + extra
    write_rows((f.row() for f in findings), COLUMNS, fmt, title="Deliverability")
    if worst(findings) == "error":
        raise SystemExit(1)
