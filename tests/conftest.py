"""Shared pytest fixtures. Each feature's helpers live in their own module.

Database tests run on SQLite or PostgreSQL (``--backend postgresql`` or
``NEWSLETTER_TEST_BACKEND=postgresql``); ``database_helpers.py`` says how a
test gets its database on both.
"""

from __future__ import annotations

import pytest
from browser_helpers import (  # noqa: F401  (fixtures: headless Chromium via Playwright)
    browser,
    chromium_available,
    shared_chromium,
)
from database_helpers import (  # noqa: F401  (fixtures: the backend and per-test databases)
    BACKEND_ENV,
    BACKENDS,
    backend,
    close_backend,
    database_url,
    new_database_url,
    open_backend,
    selected_backend,
)
from delivery_helpers import world  # noqa: F401  (fixture: a database with a list)
from inbound_helpers import newsletter, sent  # noqa: F401  (fixtures: the inbound world + CLI)
from subscriber_helpers import cli_run, db, news  # noqa: F401  (fixtures: a database + CLI)
from web_helpers import web  # noqa: F401  (fixture: a database and a live server)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"database backend for every database test (default: ${BACKEND_ENV} or sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    selected_backend(config)
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; skipped on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "empty_database: the test's database_url is empty, not migrated"
    )
    config.addinivalue_line(
        "markers", "postgresql_only: the test needs PostgreSQL; skipped on the SQLite run"
    )


def _distributing(config: pytest.Config) -> bool:
    """This process hands the tests to pytest-xdist workers and runs none itself."""
    return not hasattr(config, "workerinput") and (config.getoption("numprocesses", 0) or 0) > 0


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _distributing(session.config):  # each worker starts its own backend
        open_backend(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    close_backend(session.config)


def pytest_report_header(config: pytest.Config) -> str:
    return f"database backend: {selected_backend(config)}"


# The modules that take longest (each half a minute or more on 2 cores), run first: xdist hands
# out whole modules in collection order (--no-loadscope-reorder), so the last ones to finish are
# short and no worker waits long for another at the end.
SLOW_FIRST = (  # by their time in one process (--durations), longest first
    "test_local_time.py",
    "test_workers.py",  # PostgreSQL only
    "test_crash.py",
    "test_web_pages_look.py",
    "test_schedule.py",
    "test_locked_database.py",
    "test_screenshot.py",
    "test_subscription_mails_browser.py",
    "test_properties.py",
    "test_backup.py",
    "test_report_contrast.py",
    "test_packaging.py",
    "test_input_bounds.py",
    "test_delivery_log_plans.py",
    "test_interrupt.py",
    "test_web_serve.py",
    "test_report.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within kept
    chosen = selected_backend(config)
    for item in items:
        only = item.get_closest_marker("sqlite_only")
        if chosen != "sqlite" and only is not None:
            if not only.args:
                raise pytest.UsageError(f"{item.nodeid}: say why with sqlite_only(reason)")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {only.args[0]}"))
        if chosen != "postgresql" and item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only: needs --backend postgresql"))
