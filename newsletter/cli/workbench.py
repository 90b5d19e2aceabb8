"""Editor's workbench commands: ``screenshot`` (PNGs of an issue)."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli.app import App, cli, pass_app


@cli.command("screenshot")
@click.argument("issue", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for OUT/<issue>-<width>[-dark].png.",
)
@click.option(
    "--width",
    "widths",
    type=int,
    multiple=True,
    metavar="PX",
    help="Viewport width in CSS pixels; repeat for several (default: 600 and 375).",
)
@click.option("--dark", is_flag=True, help="Dark mode, as Apple Mail shows it.")
@click.option("--offline", is_flag=True, help="Load no remote images (they show their alt text).")
@pass_app
def screenshot_cmd(
    app: App, issue: Path, out_dir: Path, widths: tuple[int, ...], dark: bool, offline: bool
) -> None:
    """Take full-page PNG screenshots of ISSUE in headless Chromium.

    Uses the system's Chromium (Debian: apt-get install chromium, or set
    $NEWSLETTER_CHROMIUM) driven by Playwright (pip install
    'newsletter[screenshots]'); `playwright install` is never needed.

    \b
    Examples:
      newsletter screenshot issues/2021-07.yaml -o out/
      newsletter screenshot issues/2021-07.yaml -o out/ --width 600 --dark
    """
    from newsletter.workbench.screenshot import DEFAULT_WIDTHS, screenshot_issue

    shots = screenshot_issue(
        issue, app.settings, out_dir, widths=widths or DEFAULT_WIDTHS, dark=dark, offline=offline
    )
    for shot in shots:
        click.echo(f"Wrote {shot.path} ({shot.width}×{shot.height} px)")
