"""Headless Chromium through Playwright, using the system's Chromium.

Playwright drives the browser; the browser itself is Debian's ``chromium``
(or whatever ``$NEWSLETTER_CHROMIUM`` names), never one downloaded by
``playwright install``, so nothing is fetched at run time and security
updates come with the system.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import OperationFailed

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ENV = "NEWSLETTER_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str:
    """The Chromium executable, or a clear error saying how to get one."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        raise OperationFailed(
            f"${CHROMIUM_ENV} is {configured!r}, which is not an executable file; "
            "point it at Chromium or unset it"
        )
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise OperationFailed(
        "Chromium not found: install it (Debian/Ubuntu: apt-get install chromium) or set "
        f"${CHROMIUM_ENV} to its path; `playwright install` is not needed"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    executable = chromium_path()
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        raise OperationFailed(
            "Playwright is not installed: pip install 'newsletter[screenshots]' "
            "(it drives the system's Chromium; no browser download)"
        ) from exc
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=executable, headless=True)
        except Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
            raise OperationFailed(f"Chromium at {executable} did not start: {first}") from exc
        try:
            yield browser
        finally:
            browser.close()
