"""``newsletter subscribers import`` and ``export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.app import App, pass_app
from newsletter.cli.database import session
from newsletter.cli.output import progress_bar, progress_enabled, progress_option
from newsletter.cli.subscribers import STATUS, subscribers_group
from newsletter.fsutil import atomic_output
from newsletter.subscribers.export import export
from newsletter.subscribers.fields import language_warning
from newsletter.subscribers.importing import ImportReport, import_file


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n:,} {word}s"


_ENCODINGS = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16"}
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def format_report(r: ImportReport) -> list[str]:
    """The summary lines an import prints (stdout), after any problems (stderr)."""
    encoding = _ENCODINGS.get(r.encoding, r.encoding)
    layout = (
        "JSON"
        if r.delimiter == "json"
        else f"{_DELIMITERS.get(r.delimiter, repr(r.delimiter))}-separated"
    )
    lines = [f"{r.file}: {r.format} ({encoding}, {layout}), {_plural(r.rows, 'row')}"]
    if r.extra_columns:
        lines.append(f"Extra columns stored as attributes: {', '.join(r.extra_columns)}")
    lines.append(
        f"{'Imported' if r.applied and not r.dry_run else 'Would import'}: "
        f"{r.new:,} new, {r.updated:,} updated, {r.unchanged:,} unchanged, "
        f"{len(r.rejected):,} rejected, {sum(r.skipped.values()):,} skipped."
    )
    if r.merged:
        lines.append(
            f"Merged: {_plural(len(r.merged), 'row')} repeating an earlier row's address "
            "(listed above)."
        )
    if r.skipped:
        why = ", ".join(f"{n:,} {reason}" for reason, n in sorted(r.skipped.items()))
        lines.append(f"Skipped because an import never resubscribes them: {why}.")
    if r.suppressions_added:
        lines.append(f"Suppressions from the file: {r.suppressions_added:,}.")
    for tag, n in sorted(r.variants.items()):
        lines.append(f"Warning: {_plural(n, 'row')}: {language_warning(tag)}.")
    if r.role_addresses:
        lines.append(
            f"Warning: {_plural(r.role_addresses, 'role address')} (postmaster@, info@ …); "
            "these reach a team or a machine, not a person who opted in."
        )
    if r.dry_run:
        lines.append("Dry run: nothing was changed.")
    elif not r.applied:
        lines.append(
            f"Nothing imported: {_plural(len(r.rejected), 'invalid row')} (listed above). "
            "Fix them, or use --skip-invalid to import the valid rows."
        )
    return lines


@subscribers_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--list", "list_slug", metavar="SLUG", help="Target list (or the file's list column)."
)
@click.option(
    "--status",
    type=STATUS,
    default="unconfirmed",
    show_default=True,
    help="For rows that give none; 'confirmed' needs --consent-note.",
)
@click.option("--consent-note", help="Where consent comes from; kept in the consent log.")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if some are bad.")
@click.option("--check-deliverability", is_flag=True, help="Also check each domain in DNS.")
@click.option(
    "--invite",
    is_flag=True,
    help="Then send the list's unconfirmed people an invitation (see: subscribers invite).",
)
@click.option("--invite-reason", metavar="TEXT", help="Why they were added; shown in the mail.")
@progress_option
@pass_app
def import_cmd(
    app: App,
    file: Path,
    list_slug: str | None,
    status: str,
    consent_note: str | None,
    dry_run: bool,
    skip_invalid: bool,
    check_deliverability: bool,
    invite: bool,
    invite_reason: str | None,
    show_progress: bool | None,
) -> None:
    """Import subscribers from a CSV file, all or nothing.

    Recognises our own export, Mailchimp audience exports and listmonk
    exports; comma or semicolon separated; UTF-8 (with or without BOM) or
    Windows-1252. Every invalid row is reported with its line; then nothing
    is imported unless --skip-invalid. Addresses that unsubscribed or are
    suppressed are never resubscribed.

    \b
    Examples:
      newsletter subscribers import members.csv --list news --dry-run
      newsletter subscribers import subscribers/sample.csv --list news \\
        --status confirmed --consent-note "sample data"
      newsletter subscribers import members.csv --list news --invite \\
        --invite-reason "you are a member of the association"
    """
    if invite and not list_slug:
        raise click.UsageError("--invite needs --list (the list whose people to invite)")
    with (
        session(app, create=True) as s,
        progress_bar(f"Importing {file.name}", enabled=progress_enabled(show_progress),
                     unit="bytes") as progress,
    ):  # fmt: skip
        report = import_file(
            s,
            file,
            list_slug=list_slug,
            status=status,
            consent_note=consent_note,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            check_deliverability=check_deliverability,
            progress=progress,
        )
    for problem in sorted([*report.rejected, *report.merged], key=lambda p: p.line or 0):
        click.echo(str(problem), err=True)
    for line in format_report(report):
        click.echo(line)
    if report.rejected and not skip_invalid:
        sys.exit(2)
    if invite and dry_run:
        click.echo(f"Would then invite the unconfirmed people of {list_slug}.")
    elif invite and list_slug:
        from newsletter.cli.subscribers.invites import run_invite

        run_invite(app, list_slug, since=None, reason=invite_reason, dry_run=dry_run)


@subscribers_group.command("export")
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: everyone).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
@progress_option
@pass_app
def export_cmd(
    app: App, list_slug: str | None, fmt: str, output: Path | None, show_progress: bool | None
) -> None:
    """Export subscribers in our own format, streamed (any size fits in memory).

    One row per subscription, with the person's suppression if any; the file
    imports back unchanged (a backup, or a move to another database).

    \b
    Examples:
      newsletter subscribers export --list news -o news.csv
      newsletter subscribers export --format json > everyone.json
    """
    with session(app) as s:
        enabled = progress_enabled(show_progress) and output is not None
        with progress_bar("Exporting", enabled=enabled) as progress:
            if output is None:
                n = export(s, sys.stdout, list_slug=list_slug, fmt=fmt)
            else:
                with atomic_output(output) as out:  # no half export, errors name the file
                    n = export(s, out, list_slug=list_slug, fmt=fmt, progress=progress)
    if output is not None:
        click.echo(f"Exported {_plural(n, 'row')} to {output}.", err=True)
