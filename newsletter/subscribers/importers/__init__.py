"""Subscriber file formats: one module per format, each with ``matches`` and ``convert``.

Adding a format means adding a module here, listing it in ``FORMATS`` and
adding a fixture under ``tests/fixtures/subscribers/``. Order matters: the
first format whose ``matches`` accepts the header wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from newsletter.subscribers.importers.base import (
    ParsedRow,
    RowProblem,
    parse_attributes,
    parse_status,
    parse_time,
)

__all__ = [
    "Format",
    "ParsedRow",
    "RowProblem",
    "detect_format",
    "formats",
    "parse_attributes",
    "parse_status",
    "parse_time",
]


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    matches: Callable[[Sequence[str]], bool]
    convert: Callable[[dict[str, str]], ParsedRow]
    extra_columns: Callable[[Sequence[str]], list[str]]
    has_list_column: Callable[[Sequence[str]], bool]


def _load(module: ModuleType) -> Format:
    return Format(
        module.NAME,
        module.TITLE,
        module.matches,
        module.convert,
        module.extra_columns,
        getattr(module, "has_list_column", lambda columns: False),
    )


def formats() -> list[Format]:
    from newsletter.subscribers.importers import listmonk, mailchimp, own

    return [_load(mailchimp), _load(listmonk), _load(own)]


def detect_format(columns: Sequence[str]) -> Format | None:
    """The format a header belongs to (``columns`` lower-cased), or None."""
    for fmt in formats():
        if fmt.matches(columns):
            return fmt
    return None
