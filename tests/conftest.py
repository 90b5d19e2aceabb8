"""Shared pytest fixtures. Each feature's helpers live in their own module."""

from delivery_helpers import world  # noqa: F401  (fixture: a database with a list)
