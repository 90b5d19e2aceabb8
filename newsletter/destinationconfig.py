"""``[delivery.destinations.<name>]``: limits and a relay for one mailbox provider.

Mailbox providers throttle per sender, so an MTA sends to each of them at its own pace: Postfix
has per-destination concurrency and rate limits, listmonk 6.2 per-domain SMTP routing. A table
here names a destination, which recipient domains and MX hosts belong to it (a built-in
provider such as ``microsoft`` already knows its own), and how it is sent to::

    [delivery.destinations.microsoft]
    connections = 2            # at most two messages to it at once
    rate_per_minute = 120      # and at most 120 a minute
    relay_host = "ms-relay.example.org"

The names are the admin's, so the table is one setting whose value is checked here key by key;
each problem names its own key (``delivery.destinations.microsoft.connections``) so that the
loader can point at its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from newsletter.configschema import Host, Integer, Kind, Number, OneOf

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True)
class DestinationSettings:
    """One ``[delivery.destinations.<name>]`` table; ``None`` means the delivery-wide default."""

    name: str
    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()
    connections: int | None = None
    rate_per_second: float | None = None
    rate_per_minute: int | None = None
    relay_host: str | None = None
    relay_port: int = 25
    relay_security: str | None = None


def describe(tables: Iterable[DestinationSettings], default: int) -> list[tuple[str, str]]:
    """``("microsoft", "2 connections, 120/minute, relay ms.example.org:25")`` per table."""
    out = []
    for t in tables:
        n = t.connections or default
        parts = [f"{n} connection{'s' if n != 1 else ''}"]
        if t.rate_per_second:
            parts.append(f"{t.rate_per_second:g}/second")
        if t.rate_per_minute:
            parts.append(f"{t.rate_per_minute}/minute")
        if t.relay_host:
            parts.append(f"relay {t.relay_host}:{t.relay_port}")
        if t.domains or t.mx:
            parts.append("for " + ", ".join([*t.domains, *(f"MX *.{m}" for m in t.mx)]))
        out.append((t.name, ", ".join(parts)))
    return out


class KeyProblems(ValueError):
    """Several problems of one table-valued setting, each with the sub-key it is about."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


class Inline(dict[str, Any]):
    """An example value that the generated reference shows as a TOML inline table."""

    def __str__(self) -> str:
        def value(v: Any) -> str:
            if isinstance(v, dict):
                return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
            return f'"{v}"' if isinstance(v, str) else str(v)

        return value(self)


_NUMBERS: dict[str, Kind] = {
    "connections": Integer(1, 1000),
    "rate_per_second": Number(),
    "rate_per_minute": Integer(1),
    "relay_host": Host(),
    "relay_port": Integer(1, 65535),
    "relay_security": OneOf(("none", "starttls", "tls")),
}


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A list of domain names (or MX host suffixes), lower-case and without a final dot."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of {what}, got {type(value).__name__}")
    names = []
    for item in value:
        name = item.strip().lower().rstrip(".").lstrip(".")
        try:
            Host(ip_allowed=False).convert(name)
        except ValueError:
            raise ValueError(f"must be a list of {what}, got {item!r}") from None
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class DestinationTables(Kind):
    """``{name: {key: value}}`` → a tuple of :class:`DestinationSettings`, in file order."""

    def describe(self) -> str:
        return "tables `[delivery.destinations.<name>]`"

    def convert(self, value: Any) -> tuple[DestinationSettings, ...]:
        if not isinstance(value, dict):
            raise ValueError("must be tables like [delivery.destinations.microsoft]")
        problems: list[tuple[str, str]] = []
        found = []
        claimed: dict[str, str] = {}  # domain → the destination that listed it first
        for name, table in value.items():
            if not set(name) <= _NAME_CHARS:
                problems.append((name, "a destination name is lower-case letters, digits, - _ ."))
                continue
            if not isinstance(table, dict):
                problems.append((name, f"must be a table, got {type(table).__name__}"))
                continue
            values: dict[str, Any] = {}
            for key, item in table.items():
                try:
                    if key in ("domains", "mx"):
                        what = "domain names" if key == "domains" else "MX host name suffixes"
                        values[key] = _names(item, what)
                    elif key in _NUMBERS:
                        values[key] = _NUMBERS[key].convert(item)
                    else:
                        known = ", ".join(["domains", "mx", *_NUMBERS])
                        raise ValueError(f"unknown key {key!r} (known: {known})")
                except ValueError as exc:
                    problems.append((f"{name}.{key}", str(exc)))
            for domain in values.get("domains", ()):
                if claimed.setdefault(domain, name) != name:
                    problems.append(
                        (f"{name}.domains", f"{domain} is already in destination {claimed[domain]}")
                    )
            if "relay_port" in values and "relay_host" not in values:
                problems.append((f"{name}.relay_port", "needs relay_host"))
            found.append(DestinationSettings(name, **values))
        if problems:
            raise KeyProblems(problems)
        return tuple(found)
