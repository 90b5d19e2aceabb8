"""``newsletter subscribers``: the group and what its command modules share.

The group is defined here and nothing here imports its command modules:
``people`` (add, list, show, edit, unsubscribe, remove), ``files`` (import,
export) and ``gdpr`` (data, forget) each import this package and attach their
commands; ``newsletter.cli.app`` loads all three when the group is used.
"""

from __future__ import annotations

from typing import Any

import click

from newsletter.cli.app import cli
from newsletter.subscribers.errors import SubscriberError
from newsletter.subscribers.status import Status

LIST_COLUMNS = ["id", "email", "name", "language", "lists", "suppressed", "created_at"]
STATUS = click.Choice([s.value for s in Status])


def parse_attributes(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--attr city=Köln`` pairs; values stay strings (JSON is for files)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SubscriberError(f"--attr {pair!r}: use KEY=VALUE", field="attr")
        result[key.strip()] = value
    return result


@cli.group("subscribers")
def subscribers_group() -> None:
    """People who receive the newsletter, with their consent and history.

    \b
    Examples:
      newsletter subscribers add anna@example.org --list news --name "Anna Müller"
      newsletter subscribers import export.csv --list news --dry-run
      newsletter subscribers list --list news --status confirmed
    """
