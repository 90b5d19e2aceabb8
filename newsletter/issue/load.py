"""Load an issue YAML file into an :class:`~newsletter.issue.model.Issue`, with located errors.

We walk PyYAML's node tree (C-accelerated when available) instead of the
constructed objects because only nodes know their line and column; the schema
in ``schema.py`` validates it and this module builds the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import IssueError, Problem
from newsletter.issue import schema, zones
from newsletter.issue.files import split_edition
from newsletter.issue.model import (
    Article,
    Editorial,
    Event,
    Fact,
    Image,
    Issue,
    Link,
    Person,
    ProgrammeItem,
)
from newsletter.issue.schema import ISSUE, Ctx, validate_mapping

# The longest ISA issue is about 30,000 characters; a million is a book, not a newsletter.
MAX_ISSUE_CHARS = 1_000_000
_TOO_LARGE = "file is {:.1f} MB; an issue file may be at most 1 MB"

try:  # pragma: no cover - depends on how PyYAML was built
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


# --- building the model ------------------------------------------------------------------------


def _texts(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(v for v in values or () if v)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _link(ctx: Ctx, pair: tuple[dict | None, yaml.Node] | None, what: str = "link") -> Link | None:
    """A link needs a URL or a label; a label alone is recorded but never clickable.

    A "read more" without its address is useless to a reader, so the renderer
    leaves it out; a registration label ("at the door") still informs, so it
    stays as text.
    """
    if not pair or pair[0] is None:
        return None
    d, node = pair
    if not d.get("url"):  # type: ignore[union-attr]
        if not d.get("label"):  # type: ignore[union-attr]
            ctx.error(node, f"{what} needs a url, a label, or both")
            return None
        shown = "it is shown as plain text" if what == "registration" else "it is left out"
        ctx.warn(node, f"{what} {d['label']!r} has no URL; {shown}")  # type: ignore[index]
    return Link(d.get("label"), d.get("url"))  # type: ignore[union-attr]


def _links(ctx: Ctx, pairs: list | None) -> tuple[Link, ...]:
    return tuple(x for x in (_link(ctx, p) for p in pairs or ()) if x)


def _image(ctx: Ctx, pair: tuple[dict | None, yaml.Node] | None) -> Image | None:
    if not pair or pair[0] is None or not pair[0].get("src"):
        return None
    d, node = pair
    assert d is not None  # checked above
    alt = d.get("alt")
    if not alt:
        ctx.warn(node, "image without alt text; screen readers and blocked images show nothing")
    src = d["src"]
    src_node = _child(node, "src") or node
    local = None if schema.is_remote_image(src) else schema.local_path(ctx.file, src)
    mark = src_node.start_mark
    return Image(
        src,
        alt or "",
        d.get("caption"),
        d.get("width"),
        d.get("href"),
        height=d.get("height"),
        path=local,
        origin=(ctx.file, mark.line + 1, mark.column + 1),
    )


def _person(pair: tuple[dict | None, yaml.Node]) -> Person | None:
    d = pair[0]
    if not d or not d.get("name"):
        return None
    return Person(d["name"], d.get("title") or d.get("role"))


def _people(pairs: list | None) -> tuple[Person, ...]:
    return tuple(p for p in (_person(x) for x in pairs or ()) if p)


def _article(
    ctx: Ctx, pair: tuple[dict | None, yaml.Node], parent_language: str | None = None
) -> Article | None:
    """An article; a section without its own ``language`` is in its article's."""
    d, node = pair
    if not d or not d.get("title"):
        return None
    language = d.get("language") or parent_language
    return Article(
        id=d.get("id"),
        language=language,
        line=_line(node),
        title=d["title"],
        subtitle=d.get("subtitle"),
        paragraphs=_texts(d.get("paragraphs")),
        image=_image(ctx, d.get("image")),
        facts=tuple(
            Fact(f[0]["label"], f[0]["value"])
            for f in d.get("facts") or ()
            if f[0] and f[0].get("label") and f[0].get("value")
        ),
        source=d.get("source"),
        links=_links(ctx, d.get("links")),
        sections=tuple(
            a for a in (_article(ctx, s, language) for s in d.get("sections") or ()) if a
        ),
    )


def _event(ctx: Ctx, pair: tuple[dict | None, yaml.Node]) -> Event | None:
    d, node = pair
    if not d or not d.get("title"):
        return None
    _zone_warnings(ctx, d, node)
    return Event(
        id=d.get("id"),
        language=d.get("language"),
        line=_line(node),
        timezone=d.get("timezone"),
        title=d["title"],
        date=d.get("date"),
        start=d.get("start"),
        end=d.get("end"),
        place=d.get("place"),
        paragraphs=_texts(d.get("paragraphs")),
        programme=tuple(
            ProgrammeItem(p[0].get("time"), p[0]["item"])
            for p in d.get("programme") or ()
            if p[0] and p[0].get("item")
        ),
        speakers=_people(d.get("speakers")),
        registration=_link(ctx, d.get("registration"), "registration"),
        image=_image(ctx, d.get("image")),
        links=_links(ctx, d.get("links")),
    )


def _zone_warnings(ctx: Ctx, d: dict, node: yaml.Node) -> None:
    tz, day = d.get("timezone"), d.get("date")
    if not tz:
        return
    at = _child(node, "timezone") or node
    if not d.get("start"):
        ctx.warn(at, "timezone without a start time says nothing; add start (and end)")
        return
    if not day:
        return
    for key in ("start", "end"):
        hhmm = d.get(key)
        if hhmm and zones.nonexistent(day, hhmm, tz):
            ctx.warn(
                _child(node, key) or node,
                f"{key} {hhmm} does not exist on {day} in {tz}: the clocks skip that hour",
            )


def _duplicate_ids(ctx: Ctx, items: list | None, kind: str) -> None:
    seen: dict[str, int] = {}
    for i, (d, node) in enumerate(items or ()):
        ident = (d or {}).get("id")
        if not ident:
            continue
        if ident in seen:
            ctx.error(
                _child(node, "id") or node,
                f"{kind}s[{i}].id: {ident!r} is already the id of {kind} {seen[ident] + 1}",
            )
        else:
            seen[ident] = i


def _semantic_warnings(ctx: Ctx, issue: Issue, root: yaml.Node, meta_node: yaml.Node) -> None:
    if not issue.preheader:
        ctx.warn(meta_node, "missing preheader; inboxes will show the first text of the body")
    if len(issue.subject) > 78:
        ctx.warn(meta_node, f"subject is {len(issue.subject)} characters; keep it under 78")
    titles: dict[str, int] = {}
    articles_node = _child(root, "articles")
    for i, art in enumerate(issue.articles):
        key = " ".join(art.title.casefold().split())
        if key in titles:
            node = articles_node.value[i] if articles_node is not None else root
            ctx.warn(
                node, f"duplicate article title {art.title!r} (also article {titles[key] + 1})"
            )
        else:
            titles[key] = i


def _scaffold_warnings(ctx: Ctx, source: str) -> None:
    """``newsletter new`` leaves "TODO" markers; an issue still carrying one is unfinished."""
    for number, line in enumerate(source.splitlines(), 1):
        col = line.find("TODO")
        if col >= 0 and not line.lstrip().startswith("#"):
            ctx.warnings.append(
                Problem(
                    "unfinished: replace the TODO left by `newsletter new`",
                    file=ctx.file,
                    line=number,
                    column=col + 1,
                    severity="warning",
                )
            )


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _position(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset (PyYAML's reader gives only the offset)."""
    line_start = source.rfind("\n", 0, offset) + 1
    return source.count("\n", 0, offset) + 1, offset - line_start + 1


def _first_alias(source: str, root: yaml.Node, file: str) -> Problem | None:
    """An alias makes one node appear twice; a few of them expand a small file enormously.

    Issue files have no use for anchors, so the first alias is refused; it is
    looked for in the event stream only once a shared node shows there is one.
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            break
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
    else:
        return None
    mark = next(
        e.start_mark for e in yaml.parse(source, Loader=_Loader) if isinstance(e, yaml.AliasEvent)
    )
    return Problem(
        "YAML aliases (*name) are not allowed in issue files; write the text out",
        file=file,
        line=mark.line + 1,
        column=mark.column + 1,
    )


def parse_issue(source: str, file: str = "<issue>") -> tuple[Issue, list[Problem]]:
    """Parse YAML text into an Issue; return it with warnings, or raise IssueError."""
    ctx = Ctx(file, [], [])
    if len(source) > MAX_ISSUE_CHARS:
        raise IssueError([Problem(_TOO_LARGE.format(len(source) / 1e6), file=file)])
    try:
        root = yaml.compose(source, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        line, col = _position(source, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"character U+{code:04X} is not allowed in YAML ({exc.reason}); delete it"
        raise IssueError([Problem(message, file, line, col)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem:
            msg += f" ({exc.context})"
        line = mark.line + 1 if mark else None  # type: ignore[assignment]
        col = mark.column + 1 if mark else None  # type: ignore[assignment]
        raise IssueError([Problem(msg, file=file, line=line, column=col)]) from exc
    except yaml.YAMLError as exc:
        raise IssueError([Problem(f"YAML error: {exc}", file=file)]) from exc
    if root is None:
        raise IssueError([Problem("file is empty; see docs/issue-format.md", file=file)])
    alias = _first_alias(source, root, file)
    if alias is not None:
        raise IssueError([alias])
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        ctx.error(
            root,
            f"an issue file is a mapping that starts with `issue:` (see docs/issue-format.md), "
            f"not {kind}",
        )
        raise IssueError(ctx.problems)
    data = validate_mapping(ctx, root, "", ISSUE)
    if data is None:
        raise IssueError(ctx.problems, warnings=ctx.warnings)
    _duplicate_ids(ctx, data.get("articles"), "article")
    _duplicate_ids(ctx, data.get("events"), "event")
    # Built even when a value was invalid (invalid ones are None), so that the
    # warnings about images and links come out together with the errors.
    articles = tuple(a for a in (_article(ctx, p) for p in data.get("articles") or ()) if a)
    events = tuple(e for e in (_event(ctx, p) for p in data.get("events") or ()) if e)
    if ctx.problems:
        _scaffold_warnings(ctx, source)
        raise IssueError(ctx.problems, warnings=ctx.warnings)
    meta, meta_node = data["issue"]
    _, edition = split_edition(file)
    if edition and meta["language"] != edition:
        ctx.error(
            _child(meta_node, "language") or meta_node,
            f"issue.language: this file is the {edition!r} edition (by its name) "
            f"but says {meta['language']!r}",
        )
    ed = data.get("editorial")
    editorial = None
    if ed and ed[0]:
        e = ed[0]
        editorial = Editorial(
            paragraphs=_texts(e.get("paragraphs")),
            salutation=e.get("salutation"),
            closing=_texts(e.get("closing")),
            signatories=_people(e.get("signatories")),
        )
    footer = (data.get("footer") or (None, None))[0]
    issue = Issue(
        month=meta["date"],
        language=meta["language"],
        subject=meta["subject"],
        title=meta.get("title"),
        number=meta.get("number"),
        preheader=meta.get("preheader"),
        editorial=editorial,
        articles=articles,
        events=events,
        notes=_texts(data.get("notes")),
        edition=edition,
        omits=_texts(meta.get("omits")),
        about=_texts((footer or {}).get("about")),
        contact=_texts((footer or {}).get("contact")),
    )
    if ctx.problems:
        _scaffold_warnings(ctx, source)
        raise IssueError(ctx.problems, warnings=ctx.warnings)
    _semantic_warnings(ctx, issue, root, meta_node)
    _scaffold_warnings(ctx, source)
    return issue, ctx.warnings


def load_issue_with_warnings(path: str | Path) -> tuple[Issue, list[Problem]]:
    """Read and parse an issue file; errors name the file, line and column."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_ISSUE_CHARS * 4:  # not even worth decoding
            raise IssueError([Problem(_TOO_LARGE.format(p.stat().st_size / 1e6), file=str(p))])
        source = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IssueError([Problem("file not found", file=str(path))]) from exc
    except UnicodeDecodeError as exc:
        raise IssueError(
            [Problem(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", file=str(path))]
        ) from exc
    except OSError as exc:
        raise IssueError([Problem(f"cannot read: {exc.strerror}", file=str(path))]) from exc
    return parse_issue(source, str(path))


def load_issue(path: str | Path) -> Issue:
    """Read an issue file, ignoring warnings (``check`` shows them)."""
    return load_issue_with_warnings(path)[0]
