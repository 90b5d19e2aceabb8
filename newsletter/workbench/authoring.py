"""What editors do with issue files: scaffold, check, render to disk.

These are the library calls behind ``newsletter new|check|render``. Rendering
validates every file before writing any, so a typo in one issue never leaves
a half-updated output folder behind.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from newsletter.config import Settings
from newsletter.errors import BadInput, IssueError, Problem
from newsletter.fsutil import write_atomic
from newsletter.i18n import get_locale
from newsletter.issue.editions import check_editions, with_shared_header
from newsletter.issue.files import edition_paths, issue_files
from newsletter.issue.load import load_issue_with_warnings
from newsletter.issue.model import Issue
from newsletter.message.media import MEDIA_DIR, rewrite
from newsletter.render import GMAIL_CLIP_BYTES, Rendered, for_web, render_issue


@dataclass
class CheckResult:
    path: Path
    issue: Issue | None
    errors: list[Problem]
    warnings: list[Problem]
    rendered: Rendered | None = None


def check_file(path: Path, settings: Settings, *, render: bool = True) -> CheckResult:
    """Validate one file; with ``render`` also check the rendered HTML size."""
    try:
        issue, warnings = load_issue_with_warnings(path)
    except IssueError as exc:
        return CheckResult(path, None, exc.problems, exc.warnings)
    result = CheckResult(path, issue, [], list(warnings))
    if render:
        try:
            result.rendered = render_issue(issue, settings)
        except IssueError as exc:
            result.errors = [replace(p, file=str(path)) for p in exc.problems]
            return result
        size = result.rendered.html_bytes
        if size > GMAIL_CLIP_BYTES:
            result.warnings.append(
                Problem(
                    f"rendered HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB",
                    file=str(path),
                    severity="warning",
                )
            )
    return result


def check_edition_sets(paths: Iterable[Path]) -> list[Problem]:
    """Compare the editions of every issue among ``paths`` once (``check`` of one file or many).

    ``check issues/2021-07.yaml`` also compares it with ``2021-07.zh.yaml``:
    a translation that fell behind is found when the original is edited.
    """
    seen: set[Path] = set()
    out: list[Problem] = []
    for path in paths:
        members = edition_paths(path) or [path]
        if members[0].resolve() in seen:
            continue
        seen.add(members[0].resolve())
        out.extend(check_editions(path))
    return out


def render_files(
    paths: list[Path],
    out_dir: Path,
    settings: Settings,
    fmt: str = "both",
    *,
    keep_placeholders: bool = False,
) -> list[Path]:
    """Render every file into ``out_dir``; raise before writing anything if one is invalid.

    The files are for reading and for the web archive, where no recipient is
    known, so the per-recipient placeholders become their public values
    unless ``keep_placeholders`` (for feeding another mailer).
    """
    problems: list[Problem] = []
    issues: list[tuple[Path, Issue]] = []
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            problems.append(Problem(f"same output name as {stems[p.stem]}", file=str(p)))
            continue
        stems[p.stem] = p
        try:
            issues.append((p, with_shared_header(load_issue_with_warnings(p)[0], p)))
        except IssueError as exc:
            problems.extend(exc.problems)
    if problems:
        raise IssueError(problems)
    outputs: list[tuple[Path, str | bytes]] = []
    rendered: list[tuple[Path, Rendered]] = []
    for p, issue in issues:
        try:
            rendered.append((p, render_issue(issue, settings)))
        except IssueError as exc:
            problems.extend(replace(problem, file=str(p)) for problem in exc.problems)
    if problems:
        raise IssueError(problems)
    media: dict[str, bytes] = {}
    for p, r in rendered:
        if not keep_placeholders:
            r = for_web(r, settings)
        if fmt in ("html", "both"):
            # The images beside the HTML, so the folder is complete and opens offline.
            media.update((i.file.name, i.file.data) for i in r.images)
            html = rewrite(r.html, lambda name: f"{MEDIA_DIR}/{name}") if r.images else r.html
            outputs.append((out_dir / f"{p.stem}.html", html))
        if fmt in ("text", "both"):
            outputs.append((out_dir / f"{p.stem}.txt", r.text))
    # images first: an HTML file is never there without the images it shows
    images = [(out_dir / MEDIA_DIR / name, data) for name, data in sorted(media.items())]
    for target, content in [*images, *outputs]:  # rebuilt by rendering: no fsync (fsutil says why)
        write_atomic(target, content, durable=False)
    return [t for t, _ in [*images, *outputs]]


def scaffold_issue(month: str, issues_dir: Path, settings: Settings) -> Path:
    """Create ``issues_dir/YYYY-MM.yaml`` shaped like the newest existing issue.

    The editor keeps the structure (salutation, signatories, the number of
    articles) and replaces the words; text fields become "TODO" markers so
    ``check --strict`` can tell a finished issue from a scaffold.
    """
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise BadInput(f"month must be YYYY-MM (e.g. 2021-08), got {month!r}")
    target = issues_dir / f"{month}.yaml"
    if target.exists():
        raise BadInput("already exists; edit it or delete it first", file=str(target))
    month_date = dt.date(int(m.group(1)), int(m.group(2)), 1)
    previous = [p for p in issue_files(issues_dir) if p.stem < month]
    lang = settings.organisation.language
    if previous:
        prev_issue, _ = load_issue_with_warnings(previous[-1])
        lang = prev_issue.language
        data = _skeleton_from(prev_issue, month_date)
    else:
        data = _empty_skeleton(month_date, lang, settings)
    header = f"# {month} — scaffolded by `newsletter new`; see docs/issue-format.md\n"
    write_atomic(target, header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return target


def _subject(title: str, month: dt.date, lang: str) -> str:
    return f"{title} {get_locale(lang).format_month(month)}"


def _skeleton_from(prev: Issue, month: dt.date) -> dict:
    title = prev.title or "Newsletter"
    meta: dict = {"date": month.strftime("%Y-%m")}
    if prev.number:
        meta["number"] = prev.number + 1
    meta.update(
        language=prev.language,
        title=title,
        subject=_subject(title, month, prev.language),
        preheader="TODO: one line shown in the inbox preview",
    )
    data: dict = {"issue": meta}
    if prev.editorial:
        ed = prev.editorial
        data["editorial"] = {
            **({"salutation": ed.salutation} if ed.salutation else {}),
            "paragraphs": ["TODO: editorial letter"],
            **({"closing": list(ed.closing)} if ed.closing else {}),
            "signatories": [{"name": s.name, "title": s.role} for s in ed.signatories],
        }
    n = max(1, len(prev.articles))
    data["articles"] = [
        {"title": f"TODO: article {i + 1}", "paragraphs": ["TODO"]} for i in range(n)
    ]
    if prev.events:
        data["events"] = [
            {"title": "TODO: event", "date": month.isoformat(), "paragraphs": ["TODO"]}
        ]
    return data


def _empty_skeleton(month: dt.date, lang: str, settings: Settings) -> dict:
    name = settings.organisation.name
    return {
        "issue": {
            "date": month.strftime("%Y-%m"),
            "language": lang,
            "title": name,
            "subject": _subject(name, month, lang),
            "preheader": "TODO: one line shown in the inbox preview",
        },
        "editorial": {"paragraphs": ["TODO: editorial letter"]},
        "articles": [{"title": "TODO: first article", "paragraphs": ["TODO"]}],
    }
