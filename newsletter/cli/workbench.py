"""Editor's workbench commands: ``preview`` (a live page) and ``screenshot`` (PNGs)."""

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


@cli.command("preview")
@click.argument("issue", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="Local port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (only this machine by default).",
)
@pass_app
def preview_cmd(app: App, issue: Path, port: int, host: str) -> None:
    """A live preview of ISSUE: desktop, phone, dark mode and plain text side by side.

    Open the address it prints in a browser. The page reloads by itself when
    the issue, a template or newsletter.toml changes; a YAML error is shown
    on the page with FILE:LINE:COL until it is fixed. Ctrl+C stops it.

    \b
    Examples:
      newsletter preview issues/2021-07.yaml
      newsletter preview issues/2021-07.yaml --port 8002
    """
    from newsletter.workbench.preview import bind, preview_server

    sock = bind(host, port)
    server = preview_server(issue, app.settings)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Preview of {issue} at http://{shown_host}:{sock.getsockname()[1]}/ (Ctrl+C stops)")
    server.run(sockets=[sock])
