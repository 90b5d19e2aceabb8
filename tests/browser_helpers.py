"""A headless Chromium for the tests, the same way ``newsletter screenshot`` starts one.

Skipped where Chromium or Playwright is missing, except in CI (``.ci/run``
installs both), where a missing browser must fail rather than hide tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from newsletter.errors import OperationFailed


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from newsletter.workbench.browser import chromium

    try:
        with chromium() as b:
            yield b
    except OperationFailed as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture
def chromium_available() -> None:
    """For tests whose code under test starts its own browser (one Playwright per thread)."""
    from newsletter.workbench.browser import chromium_path

    try:
        chromium_path()
        import playwright.sync_api  # noqa: F401
    except (OperationFailed, ImportError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
