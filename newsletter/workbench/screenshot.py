"""PNG screenshots of an issue as subscribers see it, at the widths that matter.

600 px is the email's own width in a desktop client, 375 px a phone; dark
mode is Apple Mail's (``prefers-color-scheme: dark``). Every shot is taken
before any file is written, so a failure leaves the folder as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.errors import BadInput
from newsletter.fsutil import write_atomic
from newsletter.issue.editions import load_issue_as_sent
from newsletter.message import media
from newsletter.render import for_web, render_issue
from newsletter.workbench.browser import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DEFAULT_WIDTHS = (600, 375)
MIN_WIDTH, MAX_WIDTH = 240, 2400
LOAD_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Screenshot:
    path: Path
    width: int
    height: int
    dark: bool


def screenshot_issue(
    path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    dark: bool = False,
    offline: bool = False,
) -> list[Screenshot]:
    """Write ``OUT/<stem>-<width>[-dark].png`` for each width; return what was written.

    The issue is shown as the web archive would (no recipient, so the public
    unsubscribe page). ``offline`` blocks every request, so remote images show
    their alt text, as with images turned off in a mail client.
    """
    for w in widths:
        if not MIN_WIDTH <= w <= MAX_WIDTH:
            raise BadInput(f"--width {w}: choose between {MIN_WIDTH} and {MAX_WIDTH} pixels")
    rendered = for_web(render_issue(load_issue_as_sent(path), settings), settings)
    # The issue's own images are not published yet: shown from its files, also --offline.
    html = media.embed(rendered.html, [i.file for i in rendered.images])
    suffix = "-dark" if dark else ""
    shots: list[tuple[Screenshot, bytes]] = []
    with chromium() as browser:
        for w in dict.fromkeys(widths):
            png = capture(browser, html, width=w, dark=dark, offline=offline)
            target = out_dir / f"{path.stem}-{w}{suffix}.png"
            shots.append((Screenshot(target, w, png_height(png), dark), png))
    for shot, png in shots:
        write_atomic(shot.path, png)
    return [shot for shot, _ in shots]


def capture(browser: Browser, html: str, *, width: int, dark: bool, offline: bool) -> bytes:
    """The whole page at ``width`` CSS pixels (one PNG pixel each) as PNG bytes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(
        viewport={"width": width, "height": 800},
        device_scale_factor=1,
        color_scheme="dark" if dark else "light",
        java_script_enabled=False,  # an email runs no scripts; neither does its screenshot
    )
    try:
        page = context.new_page()
        if offline:
            page.route("**/*", lambda route: route.abort())
        # A slow image server: take the page as it is by then.
        with suppress(PlaywrightTimeout):
            page.set_content(html, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        return page.screenshot(full_page=True, type="png")
    finally:
        context.close()


def png_height(png: bytes) -> int:
    """Height from the PNG header (IHDR is always the first chunk)."""
    return int.from_bytes(png[20:24], "big")
