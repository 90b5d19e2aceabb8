"""Authoring commands: ``new``, ``check``, ``render``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.errors import IssueError
from newsletter.workbench.authoring import (
    check_edition_sets,
    check_file,
    render_files,
    scaffold_issue,
)


@cli.command("new")
@click.argument("month")
@click.option(
    "--issues-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("issues"),
    show_default=True,
    help="Folder holding the issue files.",
)
@pass_app
def new_cmd(app: App, month: str, issues_dir: Path) -> None:
    """Scaffold issues/MONTH.yaml from the structure of the previous issue.

    \b
    Example:
      newsletter new 2021-08
    """
    target = scaffold_issue(month, issues_dir, app.settings)
    click.echo(f"Created {target}. Edit it, then run: newsletter check {target}")


@cli.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit status 2).")
@click.option(
    "--report",
    is_flag=True,
    help="The pre-send report: also contrast (light and dark), images, size, text share, "
    "subject, preheader, unsubscribe link, brand colours and the SpamAssassin score.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="With --report: table for reading, json for scripts.",
)
@click.option("--links", is_flag=True, help="With --report: request every link (HEAD, then GET).")
@click.option("--no-spam", is_flag=True, help="With --report: skip SpamAssassin (it takes ~4 s).")
@pass_app
def check_cmd(
    app: App,
    files: tuple[Path, ...],
    strict: bool,
    report: bool,
    fmt: str,
    links: bool,
    no_spam: bool,
) -> None:
    """Validate issue files and report every problem as FILE:LINE:COL.

    Errors (unknown keys, wrong types, bad dates, invalid URLs …) exit with
    status 2. Warnings (missing alt text, http:// links, HTML over 102 KB …)
    exit with 0 unless --strict. An issue with language editions
    (2021-07.yaml, 2021-07.zh.yaml) is also checked as a whole: articles,
    events and links one edition has and another lacks, and a subject or
    preheader left untranslated.

    With --report, the issue is also rendered and composed as subscribers
    get it and checked for what only the result shows: WCAG AA contrast of
    every text in light and dark mode, images without alt text or pixel
    size, http:// addresses, size against Gmail's 102 KB, the share of
    text, subject and preheader length, the unsubscribe link, brand colours
    that fail with white text, the SpamAssassin score and rules (when
    spamassassin is installed; local tests only), and with --links every
    link's answer (offline: one note). Errors in the report (no unsubscribe
    link, a spam score at the threshold) exit with 2, warnings with 0
    unless --strict; notes never change the exit status.

    \b
    Examples:
      newsletter check issues/*.yaml
      newsletter check --strict issues/2021-07.zh.yaml
      newsletter check --report issues/2021-07.yaml
      newsletter check --report --links --format json issues/2021-07.yaml
    """
    if report:
        from newsletter.cli.report import run_reports

        sys.exit(
            run_reports(app.settings, files, fmt, strict=strict, links=links, spam=not no_spam)
        )
    if links or no_spam or fmt != "table":
        raise click.UsageError("--format, --links and --no-spam go with --report")
    n_err = n_warn = 0
    for path in files:
        result = check_file(path, app.settings)
        # in the order of the file, as an editor goes through it
        for p in sorted(
            [*result.errors, *result.warnings], key=lambda p: (p.line or 0, p.column or 0)
        ):
            click.echo(str(p), err=True)
        n_err += len(result.errors)
        n_warn += len(result.warnings)
        if not result.errors and not (strict and result.warnings):
            size = f", {result.rendered.html_bytes / 1024:.0f} KB HTML" if result.rendered else ""
            click.echo(f"{path}: ok{size}")
    for p in check_edition_sets(files):
        click.echo(str(p), err=True)
        if p.severity == "warning":
            n_warn += 1
        else:
            n_err += 1
    failed = bool(n_err or (strict and n_warn))
    summary = f"{len(files)} file(s): {n_err} error(s), {n_warn} warning(s)"
    if strict and n_warn:
        summary += "; warnings fail under --strict"
    click.echo(summary, err=failed)
    if failed:
        sys.exit(2)


@cli.command("render")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for DIR/<file stem>.html and .txt.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "text", "both"]),
    default="both",
    show_default=True,
    help="Which parts to write.",
)
@click.option(
    "--keep-placeholders",
    is_flag=True,
    help="Leave %%UNSUBSCRIBE_URL%%, %%MANAGE_URL%%, %%RECIPIENT_NAME%% and %%GREETING%% "
    "in place (for another mailer).",
)
@pass_app
def render_cmd(
    app: App, files: tuple[Path, ...], out_dir: Path, fmt: str, keep_placeholders: bool
) -> None:
    """Render issue files to HTML and plain text.

    Every file is validated first; if any is invalid nothing is written. The
    output is what the web archive shows: the unsubscribe link points to the
    general unsubscribe page, since no recipient is known.

    \b
    Examples:
      newsletter render issues/2021-07.yaml
      newsletter render issues/*.yaml -o out/ --format html
    """
    try:
        written = render_files(
            list(files), out_dir, app.settings, fmt, keep_placeholders=keep_placeholders
        )
    except IssueError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        click.echo(f"Nothing written: {len(exc.problems)} error(s).", err=True)
        sys.exit(2)
    click.echo(f"Wrote {len(written)} file(s) to {out_dir}/")
