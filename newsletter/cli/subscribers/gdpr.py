"""``newsletter subscribers data`` and ``forget``: GDPR access and erasure."""

from __future__ import annotations

import json

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.database import session
from newsletter.cli.subscribers import subscribers_group
from newsletter.subscribers import gdpr
from newsletter.tabular import json_default


def _register_tables() -> None:
    """Load the modules whose tables hold personal data; each registers with gdpr."""
    import newsletter.campaigns.store
    import newsletter.inbound.review  # noqa: F401


@subscribers_group.command("data")
@click.argument("email")
@pass_app
def data_cmd(app: App, email: str) -> None:
    """Print everything stored about a person as JSON (GDPR Art. 15).

    Includes their subscriptions, suppression and consent log, plus any
    other table that registered with newsletter.subscribers.gdpr.

    \b
    Example:
      newsletter subscribers data anna@example.org > anna.json
    """
    _register_tables()
    with session(app) as s:
        data = gdpr.personal_data(s, email)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=json_default))


@subscribers_group.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def forget_cmd(app: App, email: str, yes: bool) -> None:
    """Erase a person's data (GDPR Art. 17), keeping only a hashed suppression.

    Deletes the subscriber and their subscriptions and removes the address
    from the consent log and suppressions. A salted hash stays on the
    suppression list, so no later import can bring the address back.

    \b
    Example:
      newsletter subscribers forget anna@example.org --yes
    """
    if not yes:
        click.confirm(f"Erase all data about {email}? This cannot be undone.", abort=True, err=True)
    _register_tables()
    with session(app, create=True) as s:
        report = gdpr.forget(s, email)
    what = "deleted the subscriber" if report.subscriber_deleted else "no subscriber found"
    click.echo(
        f"Forgot {email}: {what}, {report.subscriptions_deleted} subscription(s), "
        f"{report.log_entries_anonymised} consent log entries anonymised; "
        "a hashed suppression keeps the address from being imported again."
    )
    for name, n in report.other.items():
        click.echo(f"  {name}: {n} row(s) scrubbed")
