"""An issue in several languages: loading its editions together and comparing them.

The editions of an issue share its date and number; each has its own subject,
preheader, editorial, articles and events. Articles and events are matched
across editions by their ``id`` (or, without one, by position, with a
warning), so ``check`` can say what a translation left out or added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from newsletter.errors import IssueError, Problem
from newsletter.issue.files import edition_paths, split_edition
from newsletter.issue.load import load_issue_with_warnings
from newsletter.issue.model import Article, Event, Issue, Link

T = TypeVar("T", Article, Event)


@dataclass(frozen=True)
class Edition:
    path: Path
    issue: Issue

    @property
    def language(self) -> str:
        return self.issue.language


@dataclass(frozen=True)
class Editions:
    """The editions of one issue, the primary (``2021-07.yaml``) first."""

    editions: tuple[Edition, ...]

    @property
    def primary(self) -> Edition:
        return self.editions[0]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(e.language for e in self.editions)

    def get(self, language: str | None) -> Edition | None:
        return next((e for e in self.editions if e.language == language), None)

    def choose(self, *preferences: str | None) -> Edition:
        """The first edition in a preferred language, else the primary.

        A campaign passes the subscriber's language, then the list's.
        """
        for lang in preferences:
            found = self.get(lang)
            if found is not None:
                return found
        return self.primary


def load_editions(path: Path) -> tuple[Editions, list[Problem]]:
    """Load every edition of the issue ``path`` belongs to; errors of all files at once.

    Warnings are each file's own plus what the editions disagree on.
    """
    loaded, warnings = _load_all(path)
    editions = _shared_header(loaded)
    return editions, warnings + compare_all(editions)


def with_shared_header(issue: Issue, path: Path) -> Issue:
    """``issue`` (loaded from ``path`` alone) as its campaign sends it: an edition that leaves
    out the number takes the primary's, as :func:`load_editions` gives it.

    For commands that show one file (``render``, ``preview``, ``screenshot``):
    without this, an edition's preview lacked the issue number its mail shows.
    A primary that is missing or broken leaves ``issue`` as it is; ``check``
    reports that.
    """
    if split_edition(path)[1] is None or issue.number is not None:
        return issue
    for candidate in edition_paths(path):
        if split_edition(candidate)[1] is None and candidate.exists():
            try:
                primary, _ = load_issue_with_warnings(candidate)
            except IssueError:
                return issue
            return replace(issue, number=primary.number)
    return issue


def load_issue_as_sent(path: Path) -> Issue:
    """One issue file with what its editions share filled in (:func:`with_shared_header`)."""
    return with_shared_header(load_issue_with_warnings(path)[0], path)


def check_editions(path: Path) -> list[Problem]:
    """What the editions of ``path``'s issue disagree on (for ``check``), not each file's own.

    Empty for an issue with one edition, and when a file does not load: its
    own check reports that.
    """
    if _primary_missing(path):
        return [_no_primary(path, "warning")]
    try:
        loaded, _ = _load_all(path)
    except IssueError:
        return []
    if len(loaded) < 2:
        return []
    try:
        editions = _shared_header(loaded)
    except IssueError as exc:
        return exc.problems
    return compare_all(editions)


def _primary_missing(path: Path) -> bool:
    paths = edition_paths(path)
    return not paths or split_edition(paths[0])[1] is not None


def _no_primary(path: Path, severity: str = "error") -> Problem:
    base, _ = split_edition(path)
    return Problem(
        f"is an edition of {path.parent / (base + '.yaml')}, which does not exist",
        file=str(path),
        severity=severity,
    )


def _load_all(path: Path) -> tuple[list[Edition], list[Problem]]:
    if _primary_missing(path):
        raise IssueError([_no_primary(path)])
    problems: list[Problem] = []
    warnings: list[Problem] = []
    loaded: list[Edition] = []
    for p in edition_paths(path):
        try:
            issue, warns = load_issue_with_warnings(p)
        except IssueError as exc:
            problems.extend(exc.problems)
            continue
        loaded.append(Edition(p, issue))
        warnings.extend(warns)
    if problems:
        raise IssueError(problems)
    return loaded, warnings


def _shared_header(loaded: list[Edition]) -> Editions:
    """Check that the editions agree on date, number and language; a missing number is shared."""
    primary = loaded[0]
    problems: list[Problem] = []
    out = [primary]
    for ed in loaded[1:]:
        issue = ed.issue
        if issue.language == primary.language:
            problems.append(
                Problem(
                    f"is in {issue.language!r}, the language of {primary.path} itself",
                    file=str(ed.path),
                    field="issue.language",
                )
            )
        if issue.month != primary.issue.month:
            problems.append(
                Problem(
                    f"{issue.slug} differs from {primary.issue.slug} in {primary.path}; "
                    "the editions of an issue share its date",
                    file=str(ed.path),
                    field="issue.date",
                )
            )
        if issue.number is None:
            issue = replace(issue, number=primary.issue.number)
        elif issue.number != primary.issue.number:
            problems.append(
                Problem(
                    f"{issue.number} differs from {primary.issue.number} in {primary.path}; "
                    "leave it out to share it",
                    file=str(ed.path),
                    field="issue.number",
                )
            )
        out.append(Edition(ed.path, issue))
    if problems:
        raise IssueError(problems)
    return Editions(tuple(out))


# --- comparing two editions --------------------------------------------------------------------


def compare_all(editions: Editions) -> list[Problem]:
    """Every edition against the primary: what each translation left out, added or kept."""
    out: list[Problem] = []
    for other in editions.editions[1:]:
        out.extend(compare(editions.primary, other))
    return out


def compare(primary: Edition, other: Edition) -> list[Problem]:
    """What ``other`` left untranslated, left out or added, as warnings located where it is."""
    out: list[Problem] = []
    a, b = primary.issue, other.issue
    for name in ("subject", "preheader"):
        left, right = getattr(a, name), getattr(b, name)
        if left and right and _same(left, right):
            out.append(
                _warn(
                    other,
                    None,
                    f"issue.{name}: the same as in the {primary.language} edition; translate it",
                )
            )
    if bool(a.editorial) != bool(b.editorial):
        has, lacks = (primary, other) if a.editorial else (other, primary)
        out.append(_warn(lacks, None, f"no editorial, but the {has.language} edition has one"))
    out += _compare_items(primary, other, "article", a.articles, b.articles, _article_links)
    out += _compare_items(primary, other, "event", a.events, b.events, _event_links)
    return out + _unknown_omissions(primary, other)


def _unknown_omissions(primary: Edition, other: Edition) -> list[Problem]:
    ids = {x.id for x in (*primary.issue.articles, *primary.issue.events) if x.id}  # type: ignore[attr-defined]
    own = {x.id for x in (*other.issue.articles, *other.issue.events) if x.id}  # type: ignore[attr-defined]
    out = []
    for ident in other.issue.omits:
        if ident not in ids:
            out.append(
                _warn(
                    other,
                    None,
                    f"issue.omits: {ident!r} is no article or event id of {primary.path}",
                )
            )
        elif ident in own:
            out.append(_warn(other, None, f"issue.omits: {ident!r} is in this edition after all"))
    return out


def _same(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _warn(ed: Edition, line: int | None, message: str) -> Problem:
    return Problem(message, file=str(ed.path), line=line, severity="warning")


def _compare_items(
    primary: Edition,
    other: Edition,
    kind: str,
    left: Sequence[T],
    right: Sequence[T],
    links_of: Callable[[T], list[Link]],
) -> list[Problem]:
    pairs, only_left, only_right = match(left, right)
    out: list[Problem] = []
    for ed, items in ((primary, left), (other, right)):
        loose = [x for x in items if not x.id]
        if loose and left and right:
            out.append(
                _warn(
                    ed,
                    loose[0].line,
                    f"{len(loose)} {kind}(s) without an id, matched with the other editions by "
                    f"position; give each {kind} the same `id` in every edition",
                )
            )
    for item in only_left:
        if item.id not in other.issue.omits:
            out.append(_missing(kind, item, primary, other))
    for item in only_right:
        out.append(_missing(kind, item, other, primary))
    for x, y in pairs:
        out += _compare_links(kind, (primary, x), (other, y), links_of)
    return out


def _missing(kind: str, item: Article | Event, has: Edition, lacks: Edition) -> Problem:
    name = f"{kind} {item.id!r}" if item.id else f"{kind} {item.title!r}"
    return _warn(
        has, item.line, f"{name} is missing from the {lacks.language} edition ({lacks.path})"
    )


def match(left: Sequence[T], right: Sequence[T]) -> tuple[list[tuple[T, T]], list[T], list[T]]:
    """Pair items by ``id``; items without one pair by position among the id-less ones.

    Returns the pairs and the items found only on the left and only on the right.
    """
    by_id = {y.id: y for y in right if y.id}
    pairs: list[tuple[T, T]] = []
    only_left: list[T] = []
    for x in left:
        if x.id and x.id in by_id:
            pairs.append((x, by_id.pop(x.id)))
        elif x.id:
            only_left.append(x)
    only_right = [y for y in right if y.id and y.id in by_id]
    loose_left = [x for x in left if not x.id]
    loose_right = [y for y in right if not y.id]
    n = min(len(loose_left), len(loose_right))
    pairs += list(zip(loose_left[:n], loose_right[:n], strict=True))
    return pairs, only_left + loose_left[n:], only_right + loose_right[n:]


def _compare_links(
    kind: str,
    left: tuple[Edition, T],
    right: tuple[Edition, T],
    links_of: Callable[[T], list[Link]],
) -> list[Problem]:
    """Links with the same URL pair up, the rest by position (a translation may link a page in
    its own language); what is left over is missing from the other edition."""
    (led, x), (red, y) = left, right
    rest_x: list[Link] = []
    rest_y = links_of(y)
    for link in links_of(x):
        same = next((i for i, r in enumerate(rest_y) if link.url and r.url == link.url), None)
        if same is None:
            rest_x.append(link)
        else:
            rest_y.pop(same)
    n = min(len(rest_x), len(rest_y))
    out = []
    for ed, item, extra, lacks in ((led, x, rest_x[n:], red), (red, y, rest_y[n:], led)):
        for link in extra:
            out.append(
                _warn(
                    ed,
                    item.line,
                    f"link {link.url or link.label!r} of {kind} {item.id or item.title!r} is "
                    f"missing from the {lacks.language} edition",
                )
            )
    return out


def _article_links(art: Article) -> list[Link]:
    out = list(art.links)
    for sub in art.sections:
        out.extend(_article_links(sub))
    return out


def _event_links(ev: Event) -> list[Link]:
    return [*([ev.registration] if ev.registration else []), *ev.links]
