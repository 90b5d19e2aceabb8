"""Chrome strings, month and weekday names for de, en and zh.

Kept in small TOML files inside the package (``newsletter/locales``) so they
ship in the wheel and translators edit data, not code. We do not use the
system locale: a server's ``LANG`` must not change what subscribers read.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Locale:
    code: str
    strings: dict[str, object]

    def __getitem__(self, key: str) -> str:
        return str(self.strings[key])

    def month_name(self, month: int) -> str:
        return list(self.strings["months"])[month - 1]  # type: ignore[call-overload]

    def weekday_name(self, weekday: int) -> str:
        return list(self.strings["weekdays"])[weekday]  # type: ignore[call-overload]

    def format_month(self, d: dt.date) -> str:
        """``Juli 2021`` / ``July 2021`` / ``2021年7月``."""
        return self["month_format"].format(month=self.month_name(d.month), year=d.year)

    def format_date(self, d: dt.date) -> str:
        """``Dienstag, 29. Juni 2021`` / ``Tuesday, 29 June 2021`` / ``2021年6月29日（星期二）``."""
        return self["date_format"].format(
            weekday=self.weekday_name(d.weekday()),
            day=d.day,
            month=self.month_name(d.month),
            year=d.year,
        )

    def format_when(self, d: dt.date | None, start: str | None, end: str | None) -> str:
        parts = []
        if d:
            parts.append(self.format_date(d))
        if start:
            span = f"{start}–{end}" if end else start
            parts.append(span + self["time_suffix"])
        return ", ".join(parts)


@cache
def get_locale(code: str) -> Locale:
    """Load the locale ``code``; unknown codes are a programming error (validated earlier)."""
    data = resources.files("newsletter").joinpath("locales", f"{code}.toml").read_text("utf-8")
    return Locale(code, tomllib.loads(data))
