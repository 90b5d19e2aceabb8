"""Shared pytest fixtures. Each feature's helpers live in their own module."""

from delivery_helpers import world  # noqa: F401  (fixture: a database with a list)
from subscriber_helpers import cli_run, db, news  # noqa: F401  (fixtures: SQLite + CLI)
