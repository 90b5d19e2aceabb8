"""One small exception tree, so the CLI can map every failure to an exit code.

``BadInput`` (exit 2) is the user's to fix: a YAML file, a CSV row, an address,
a config key. ``OperationFailed`` (exit 1) is the world's fault: a server that
refused, a full disk. Each carries *where* so the message can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# scheme://user:password@ — greedy up to the last "@" of the token, since a
# password may itself contain one.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*):[^\s'\"]*@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``, for messages and logs."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


@dataclass(frozen=True)
class Problem:
    """One located problem: ``file:line:col: message`` when all parts are known."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        if self.field and not self.line:
            where += f"{self.field}: "
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{self.message}"


class NewsletterError(Exception):
    """Base of all errors the CLI knows how to report."""

    exit_code = 1


class BadInput(NewsletterError):
    """The user's input is wrong; carries one or more located problems."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str, *, file: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, file=file)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class IssueError(BadInput):
    """An issue YAML file is invalid; ``warnings`` are those found before giving up."""

    def __init__(
        self,
        problems: list[Problem] | str,
        *,
        file: str | None = None,
        warnings: list[Problem] | None = None,
    ):
        super().__init__(problems, file=file)
        self.warnings = list(warnings or ())


class ConfigError(BadInput):
    """``newsletter.toml`` or an environment variable is invalid."""


class OperationFailed(NewsletterError):
    """Something outside the user's input failed (server, disk, network)."""

    exit_code = 1
