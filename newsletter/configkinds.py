"""The kinds of value a ``newsletter.toml`` key takes: one small validator each.

Each kind checks a value and says what is wrong in the user's words (``must be 1 to
65535, got 99999``), and names itself for the generated reference. They are the part of
the schema that grows (a new kind of value is a new class here), apart from the
machinery in :mod:`newsletter.configschema` that walks a file and collects problems.
``is_loopback`` and ``host_port`` are here because the kinds decide with them, and the
transports and the doctor ask the same questions.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


class Kind:
    """How one kind of value is checked and converted; ``describe`` names it in the docs."""

    def describe(self) -> str:
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """The value to store, or :class:`ValueError` with the reason in the user's words."""
        raise NotImplementedError


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a table"
    return repr(value)


@dataclass(frozen=True)
class Text(Kind):
    one_line: bool = False

    def describe(self) -> str:
        return "text"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {_got(value)}")
        if not value.strip():
            raise ValueError("must not be empty")
        if self.one_line and ("\n" in value or "\r" in value):
            raise ValueError("must be a single line")
        return value


@dataclass(frozen=True)
class FilePath(Text):
    """A file or folder; relative paths are resolved against the settings file's folder."""

    def describe(self) -> str:
        return "path"


@dataclass(frozen=True)
class OneOf(Kind):
    choices: tuple[str, ...]

    def describe(self) -> str:
        return " \\| ".join(f'`"{c}"`' for c in self.choices)

    def convert(self, value: Any) -> str:
        if value not in self.choices:
            *head, last = (f'"{c}"' for c in self.choices)
            raise ValueError(f"must be {', '.join(head)} or {last}, got {_got(value)}")
        return value


@dataclass(frozen=True)
class Integer(Kind):
    minimum: int
    maximum: int | None = None

    def describe(self) -> str:
        if self.maximum is None:
            return f"integer ≥ {self.minimum}"
        return f"integer {self.minimum}–{self.maximum}"

    def convert(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {_got(value)}")
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            upper = f" to {self.maximum}" if self.maximum is not None else " or more"
            raise ValueError(f"must be {self.minimum}{upper}, got {value}")
        return value


@dataclass(frozen=True)
class Number(Kind):
    """A float; ``positive`` means strictly above zero (a timeout of 0 waits forever)."""

    positive: bool = True

    def describe(self) -> str:
        return "number > 0" if self.positive else "number ≥ 0"

    def convert(self, value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"must be a number, got {_got(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"must be a finite number, got {value}")
        if value < 0 or (self.positive and value == 0):
            raise ValueError(
                f"must be {'more than' if self.positive else 'at least'} 0, got {value}"
            )
        return float(value)


@dataclass(frozen=True)
class Boolean(Kind):
    def describe(self) -> str:
        return "`true` \\| `false`"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {_got(value)}")
        return value


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}"
)


@dataclass(frozen=True)
class Address(Kind):
    """An email address, checked for syntax by email-validator (never with DNS: offline use)."""

    def describe(self) -> str:
        return "email address"

    def convert(self, value: Any) -> str:
        text = Text(one_line=True).convert(value).strip()
        if _PLAIN_ADDRESS.fullmatch(text):
            return text  # the common shape; spares every command importing email-validator
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"must be an email address, got {text!r}: {exc}") from None
        return text


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _is_hostname(text: str) -> bool:
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_name.rstrip(".").split(".")
    return len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: the only places a password may travel in clear."""
    host = host.strip("[]")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Host(Kind):
    """A host name or an IP address (IPv6 with or without brackets)."""

    ip_allowed: bool = True

    def describe(self) -> str:
        return "host name or IP address" if self.ip_allowed else "domain name"

    def convert(self, value: Any) -> str:
        text = Text(one_line=True).convert(value).strip()
        if self.ip_allowed:
            try:
                ipaddress.ip_address(text.strip("[]"))
                return text.strip("[]")
            except ValueError:
                pass
        if not _is_hostname(text) or (not self.ip_allowed and "." not in text):
            what = "a host name or IP address" if self.ip_allowed else "a domain name"
            raise ValueError(f"must be {what}, got {text!r}")
        return text


@dataclass(frozen=True)
class NameServer(Kind):
    """A DNS server's IP address, with an optional port: ``127.0.0.1:5353``, ``[::1]:53``."""

    def describe(self) -> str:
        return "IP address, optionally with `:PORT`"

    def convert(self, value: Any) -> str:
        text = Text(one_line=True).convert(value).strip()
        try:
            host, port = host_port(text)
            ipaddress.ip_address(host)
        except ValueError:
            what = "an IP address with an optional :PORT"
            raise ValueError(f"must be {what}, got {text!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"port must be 1 to 65535, got {port}")
        return text


def host_port(value: str) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:5353`` or ``::1`` (raises ValueError)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    ipaddress.ip_address(value)
    return value, 53


@dataclass(frozen=True)
class Url(Kind):
    """An absolute URL; ``secure`` allows only https, or http to this machine for testing."""

    secure: bool = False

    def describe(self) -> str:
        return "https URL (http only for localhost)" if self.secure else "http(s) URL"

    def convert(self, value: Any) -> str:
        text = Text(one_line=True).convert(value).strip()
        parts = urlsplit(text)
        host = parts.hostname or ""
        ok = parts.scheme == "https" or (
            parts.scheme == "http" and (not self.secure or is_loopback(host))
        )
        if not ok or not host or any(c.isspace() for c in text):
            need = "an https URL (http only for localhost)" if self.secure else "an http(s) URL"
            raise ValueError(f"must be {need}, got {text!r}")
        return text


@dataclass(frozen=True)
class Colour(Kind):
    def describe(self) -> str:
        return "colour `#rrggbb`"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(
            r"#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}", value
        ):
            raise ValueError(f'must be a colour like "#1f4e79", got {_got(value)}')
        return value


@dataclass(frozen=True)
class Lines(Kind):
    """Paragraphs or lines: a list of text, or one text with one item per line."""

    def describe(self) -> str:
        return "list of text"

    def convert(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(line for line in value.strip().splitlines())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"must be text or a list of text, got {_got(value)}")


@dataclass(frozen=True)
class DatabaseUrl(Kind):
    """Only the shape is checked here; the database layer checks the rest when it opens it."""

    def describe(self) -> str:
        return "database URL"

    def convert(self, value: Any) -> str:
        text = Text(one_line=True).convert(value).strip()
        if not re.match(r"[A-Za-z][A-Za-z0-9+]*://", text):
            # not echoed: a mistyped URL may still hold a password
            raise ValueError(
                "must be a database URL like sqlite:///newsletter.sqlite or "
                "postgresql://user@host/db"
            )
        return text
