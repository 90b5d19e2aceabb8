"""Printing the pre-send report (``check --report``): a table for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from newsletter.cli.output import progress_bar, progress_enabled
from newsletter.config import Settings
from newsletter.workbench.links import LinkResult
from newsletter.workbench.report import Report, build_report

STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan", "ok": "green"}


def run_reports(
    settings: Settings, files: Iterable[Path], fmt: str, *, strict: bool, links: bool, spam: bool
) -> int:
    """Build and print one report per file; the exit status of the worst one."""
    reports: list[Report] = []
    for path in files:
        with progress_bar(f"Links in {path}", enabled=links and progress_enabled(None)) as bar:
            done: list[LinkResult] = []

            def tick(result: LinkResult, done: list[LinkResult] = done, bar=bar) -> None:
                done.append(result)
                if bar:
                    bar(len(done), 0)

            reports.append(build_report(path, settings, links=links, spam=spam, link_progress=tick))
    if fmt == "json":
        json.dump([r.as_dict() for r in reports], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for r in reports:
            _table(r)
    return max(r.exit_code(strict=strict) for r in reports)


def _table(report: Report) -> None:
    console = Console(file=sys.stdout, soft_wrap=False)
    table = Table(title=f"Pre-send report: {report.path}", title_justify="left", show_edge=False)
    for column in ("", "check", "finding"):
        table.add_column(column, overflow="fold")
    for f in sorted(report.findings, key=lambda f: _ORDER[f.severity]):
        finding = f"{f.where}: {f.message}" if f.where else f.message
        table.add_row(Text(f.severity, style=STYLE[f.severity]), f.check, finding)
    console.print(table)
    counts = ", ".join(
        f"{report.count(s)} {s}{'s' if report.count(s) != 1 else ''}"
        for s in ("error", "warning", "note")
    )
    click.echo(f"{report.path}: {counts}")


_ORDER = {"error": 0, "warning": 1, "note": 2, "ok": 3}
