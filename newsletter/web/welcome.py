"""Welcome mails: ``welcome/<list>.yaml`` in the organisation's folder, one per list.

Read once when the server starts; a file with a problem stops the start
with every problem named (file and key), as a bad ``newsletter.toml`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from newsletter.config import Settings
from newsletter.errors import BadInput, Problem


@dataclass(frozen=True)
class Welcome:
    """``welcome/<list>.yaml``: what a new subscriber of that list is sent."""

    subject: str
    paragraphs: tuple[str, ...]
    latest_issue: bool = True


def load_welcomes(settings: Settings) -> dict[str, Welcome]:
    """Every list's welcome mail from ``[web] welcome_dir``; problems name file and key."""
    folder = settings.path(settings.web.welcome_dir)
    welcomes: dict[str, Welcome] = {}
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(f"cannot read: {exc}", file=str(path)))
            continue
        welcome = _welcome(data, str(path), problems)
        if welcome is not None:
            welcomes[path.stem] = welcome
    if problems:
        raise BadInput(problems)
    return welcomes


def _welcome(data: object, file: str, problems: list[Problem]) -> Welcome | None:
    if not isinstance(data, dict):
        problems.append(Problem("must be a mapping with subject and paragraphs", file=file))
        return None
    before = len(problems)
    for key in sorted(set(data) - {"subject", "paragraphs", "latest_issue"}):
        problems.append(Problem(f"unknown key {key!r}", file=file, field=str(key)))
    subject, paragraphs = data.get("subject"), data.get("paragraphs", [])
    if not isinstance(subject, str) or not subject.strip():
        problems.append(Problem("must be text", file=file, field="subject"))
    if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
        problems.append(Problem("must be a list of text", file=file, field="paragraphs"))
    if not isinstance(data.get("latest_issue", True), bool):
        problems.append(Problem("must be true or false", file=file, field="latest_issue"))
    if len(problems) > before:
        return None
    return Welcome(subject.strip(), tuple(paragraphs), data.get("latest_issue", True))  # type: ignore[union-attr]
