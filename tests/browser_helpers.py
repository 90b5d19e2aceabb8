"""A headless Chromium for the tests, the same way ``newsletter screenshot`` starts one.

One Chromium for the whole session (each launch costs a second or more, and seven modules
use it); every test opens its own context, so no cookie or page outlives the test that made
it. Playwright's sync API allows one running instance per thread, so a test whose code under
test starts its own browser (``chromium_available``) first closes the shared one; the next
test that asks for ``browser`` launches it again.

Skipped where Chromium or Playwright is missing, except in CI (``.ci/run``
installs both), where a missing browser must fail rather than hide tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from newsletter.errors import OperationFailed


class SharedChromium:
    """The session's Chromium, launched on first use and closed on demand."""

    def __init__(self) -> None:
        self._running: AbstractContextManager[Any] | None = None
        self._browser: Any = None

    def get(self) -> Any:
        if self._browser is None:
            from newsletter.workbench.browser import chromium

            running = chromium()
            self._browser = running.__enter__()
            self._running = running
        return self._browser

    def close(self) -> None:
        running, self._running, self._browser = self._running, None, None
        if running is not None:
            running.__exit__(None, None, None)


@pytest.fixture(scope="session")
def shared_chromium() -> Iterator[SharedChromium]:
    shared = SharedChromium()
    yield shared
    shared.close()


@pytest.fixture
def browser(shared_chromium: SharedChromium) -> Any:
    try:
        return shared_chromium.get()
    except OperationFailed as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture
def chromium_available(shared_chromium: SharedChromium) -> None:
    """For tests whose code under test starts its own browser (one Playwright per thread)."""
    from newsletter.workbench.browser import chromium_path

    try:
        chromium_path()
        import playwright.sync_api  # noqa: F401
    except (OperationFailed, ImportError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    shared_chromium.close()
