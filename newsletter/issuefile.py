"""Load an issue YAML file into an :class:`~newsletter.model.Issue`, with located errors.

We walk PyYAML's node tree (C-accelerated when available) instead of the
constructed objects because only nodes know their line and column. Every
problem in a file is collected before we give up, so an editor fixes them all
in one round (mkdocs' approach, plus the positions mkdocs lacks).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from newsletter.errors import IssueError, Problem
from newsletter.model import (
    LANGUAGES,
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

try:  # pragma: no cover - depends on how PyYAML was built
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_constructor = yaml.constructor.SafeConstructor()


@dataclass
class _Ctx:
    file: str
    problems: list[Problem]
    warnings: list[Problem]

    def error(self, node: yaml.Node, message: str) -> None:
        self.problems.append(_at(self.file, node, message))

    def warn(self, node: yaml.Node, message: str) -> None:
        self.warnings.append(_at(self.file, node, message, "warning"))


def _at(file: str, node: yaml.Node, message: str, severity: str = "error") -> Problem:
    m = node.start_mark
    return Problem(message, file=file, line=m.line + 1, column=m.column + 1, severity=severity)


# --- scalar validators: return the value or None after reporting a problem --------------------

Validator = Callable[[_Ctx, yaml.Node, str], Any]


def _scalar(ctx: _Ctx, node: yaml.Node, name: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        ctx.error(node, f"{name}: expected a single value, got {kind}")
        return None
    try:
        return _constructor.construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        ctx.error(node, f"{name}: {exc.problem}")
        return None


def text(ctx: _Ctx, node: yaml.Node, name: str) -> str | None:
    value = _scalar(ctx, node, name)
    if value is None:
        if isinstance(node, yaml.ScalarNode):
            ctx.error(node, f"{name}: must not be empty")
        return None
    if isinstance(value, bool | dict | list):
        ctx.error(node, f"{name}: expected text, got {type(value).__name__}")
        return None
    if isinstance(value, dt.date | int | float):
        # An unquoted number or date where text belongs ("title: 2021") is
        # almost certainly meant as text; keep the characters as written.
        return str(node.value)
    s = str(value).strip()
    if not s:
        ctx.error(node, f"{name}: must not be empty")
        return None
    return s


def integer(ctx: _Ctx, node: yaml.Node, name: str) -> int | None:
    value = _scalar(ctx, node, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        ctx.error(node, f"{name}: expected a whole number ≥ 1, got {node.value!r}")
        return None
    return value


def month(ctx: _Ctx, node: yaml.Node, name: str) -> dt.date | None:
    raw = str(getattr(node, "value", ""))
    m = re.fullmatch(r"(\d{4})-(\d{2})", raw)
    if not m or not 1 <= int(m.group(2)) <= 12:
        ctx.error(node, f"{name}: expected a month as YYYY-MM (e.g. 2021-07), got {raw!r}")
        return None
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def date(ctx: _Ctx, node: yaml.Node, name: str) -> dt.date | None:
    raw = str(getattr(node, "value", ""))
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        ctx.error(node, f"{name}: expected a date as YYYY-MM-DD (e.g. 2021-06-29), got {raw!r}")
        return None


def time(ctx: _Ctx, node: yaml.Node, name: str) -> str | None:
    raw = str(getattr(node, "value", ""))
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw)
    if not m:
        ctx.error(node, f"{name}: expected a time as HH:MM (e.g. 09:30), got {raw!r}")
        return None
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def language(ctx: _Ctx, node: yaml.Node, name: str) -> str | None:
    raw = str(getattr(node, "value", ""))
    if raw not in LANGUAGES:
        ctx.error(node, f"{name}: unknown language {raw!r}; use one of {', '.join(LANGUAGES)}")
        return None
    return raw


def url(ctx: _Ctx, node: yaml.Node, name: str) -> str | None:
    raw = text(ctx, node, name)
    if raw is None:
        return None
    if not is_valid_url(raw):
        ctx.error(
            node, f"{name}: invalid URL {raw!r}; use an absolute https://… or mailto: address"
        )
        return None
    if raw.startswith("http://"):
        ctx.warn(node, f"{name}: insecure http:// link {raw!r}; prefer https://")
    return raw


def is_valid_url(raw: str) -> bool:
    """Accept absolute http(s) URLs with a host, and mailto: with an address."""
    if any(c.isspace() for c in raw):
        return False
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        return (bool(host) and "." in host) or host == "localhost"
    if parts.scheme == "mailto":
        return bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", parts.path))
    return False


def image_src(ctx: _Ctx, node: yaml.Node, name: str) -> str | None:
    raw = text(ctx, node, name)
    if raw is None:
        return None
    if raw.startswith("mailto:") or not is_valid_url(raw):
        ctx.error(node, f"{name}: invalid image URL {raw!r}; use an absolute https:// URL")
        return None
    return raw


# --- structure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """One key of a mapping: its validator, whether it is required, and for lists the item."""

    check: Any
    required: bool = False
    many: bool = False


def _mapping(ctx: _Ctx, node: yaml.Node, name: str, spec: dict[str, F]) -> dict[str, Any] | None:
    if not isinstance(node, yaml.MappingNode):
        ctx.error(node, f"{name}: expected a mapping of keys (key: value)")
        return None
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for knode, vnode in node.value:
        key = str(knode.value)
        where = f"{name}.{key}" if name else key
        if key in seen:
            ctx.error(knode, f"{where}: duplicate key")
            continue
        seen.add(key)
        f = spec.get(key)
        if f is None:
            hint = _suggest(key, spec)
            ctx.error(
                knode, f"unknown key {where!r}" + (f"; did you mean {hint!r}?" if hint else "")
            )
            continue
        if isinstance(vnode, yaml.ScalarNode) and vnode.tag.endswith(":null"):
            if f.required:
                ctx.error(vnode if vnode.start_mark else knode, f"{where}: must not be empty")
            out[key] = None
            continue
        out[key] = _value(ctx, vnode, where, f)
    for key, f in spec.items():
        if f.required and key not in seen:
            where = f"{name}.{key}" if name else key
            ctx.error(node, f"missing required key {where!r}")
    return out


def _value(ctx: _Ctx, node: yaml.Node, where: str, f: F) -> Any:
    if f.many:
        if not isinstance(node, yaml.SequenceNode):
            ctx.error(node, f"{where}: expected a list (items starting with '- ')")
            return None
        return [_one(ctx, item, f"{where}[{i}]", f.check) for i, item in enumerate(node.value)]
    return _one(ctx, node, where, f.check)


def _one(ctx: _Ctx, node: yaml.Node, where: str, check: Any) -> Any:
    if isinstance(check, dict):
        return (_mapping(ctx, node, where, check), node)
    return check(ctx, node, where)


def _suggest(key: str, spec: dict[str, F]) -> str | None:
    import difflib

    close = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.7)
    return close[0] if close else None


LINK = {"label": F(text), "url": F(url)}
IMAGE = {
    "src": F(image_src, required=True),
    "alt": F(text),
    "caption": F(text),
    "width": F(integer),
    "href": F(url),
}
PERSON = {"name": F(text, required=True), "title": F(text), "role": F(text)}
FACT = {"label": F(text, required=True), "value": F(text, required=True)}
ARTICLE: dict[str, F] = {
    "title": F(text, required=True),
    "subtitle": F(text),
    "paragraphs": F(text, many=True),
    "image": F(IMAGE),
    "facts": F(FACT, many=True),
    "source": F(text),
    "links": F(LINK, many=True),
}
ARTICLE["sections"] = F(ARTICLE, many=True)
EVENT = {
    "title": F(text, required=True),
    "date": F(date),
    "start": F(time),
    "end": F(time),
    "place": F(text),
    "paragraphs": F(text, many=True),
    "programme": F({"time": F(time), "item": F(text, required=True)}, many=True),
    "speakers": F(PERSON, many=True),
    "registration": F(LINK),
    "image": F(IMAGE),
    "links": F(LINK, many=True),
}
ISSUE = {
    "issue": F(
        {
            "date": F(month, required=True),
            "number": F(integer),
            "language": F(language, required=True),
            "title": F(text),
            "subject": F(text, required=True),
            "preheader": F(text),
        },
        required=True,
    ),
    "editorial": F(
        {
            "salutation": F(text),
            "paragraphs": F(text, many=True, required=True),
            "closing": F(text, many=True),
            "signatories": F(PERSON, many=True),
        }
    ),
    "articles": F(ARTICLE, many=True),
    "events": F(EVENT, many=True),
    "notes": F(text, many=True),
}


# --- building the model ------------------------------------------------------------------------


def _texts(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(v for v in values or () if v)


def _link(ctx: _Ctx, pair: tuple[dict | None, yaml.Node] | None) -> Link | None:
    """A link needs a URL or a label; a label alone is recorded but never clickable."""
    if not pair or pair[0] is None:
        return None
    d, node = pair
    if not d.get("url"):
        if not d.get("label"):
            ctx.error(node, "link needs a url, a label, or both")
            return None
        ctx.warn(node, f"link {d['label']!r} has no URL; it is shown as plain text")
    return Link(d.get("label"), d.get("url"))


def _links(ctx: _Ctx, pairs: list | None) -> tuple[Link, ...]:
    return tuple(x for x in (_link(ctx, p) for p in pairs or ()) if x)


def _image(ctx: _Ctx, pair: tuple[dict | None, yaml.Node] | None) -> Image | None:
    if not pair or pair[0] is None or not pair[0].get("src"):
        return None
    d, node = pair
    alt = d.get("alt")
    if not alt:
        ctx.warn(node, "image without alt text; screen readers and blocked images show nothing")
    return Image(d["src"], alt or "", d.get("caption"), d.get("width"), d.get("href"))


def _person(pair: tuple[dict | None, yaml.Node]) -> Person | None:
    d = pair[0]
    if not d or not d.get("name"):
        return None
    return Person(d["name"], d.get("title") or d.get("role"))


def _people(pairs: list | None) -> tuple[Person, ...]:
    return tuple(p for p in (_person(x) for x in pairs or ()) if p)


def _article(ctx: _Ctx, pair: tuple[dict | None, yaml.Node]) -> Article | None:
    d = pair[0]
    if not d or not d.get("title"):
        return None
    return Article(
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
        sections=tuple(a for a in (_article(ctx, s) for s in d.get("sections") or ()) if a),
    )


def _event(ctx: _Ctx, pair: tuple[dict | None, yaml.Node]) -> Event | None:
    d = pair[0]
    if not d or not d.get("title"):
        return None
    return Event(
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
        registration=_link(ctx, d.get("registration")),
        image=_image(ctx, d.get("image")),
        links=_links(ctx, d.get("links")),
    )


def _semantic_warnings(ctx: _Ctx, issue: Issue, root: yaml.Node, meta_node: yaml.Node) -> None:
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


def _scaffold_warnings(ctx: _Ctx, source: str) -> None:
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


def parse_issue(source: str, file: str = "<issue>") -> tuple[Issue, list[Problem]]:
    """Parse YAML text into an Issue; return it with warnings, or raise IssueError."""
    ctx = _Ctx(file, [], [])
    try:
        root = yaml.compose(source, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem:
            msg += f" ({exc.context})"
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise IssueError([Problem(msg, file=file, line=line, column=col)]) from exc
    except yaml.YAMLError as exc:
        raise IssueError([Problem(f"YAML error: {exc}", file=file)]) from exc
    if root is None:
        raise IssueError([Problem("file is empty; see docs/issue-format.md", file=file)])
    data = _mapping(ctx, root, "", ISSUE)
    if ctx.problems or data is None:
        raise IssueError(ctx.problems)
    meta, meta_node = data["issue"]
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
    issue = Issue(
        month=meta["date"],
        language=meta["language"],
        subject=meta["subject"],
        title=meta.get("title"),
        number=meta.get("number"),
        preheader=meta.get("preheader"),
        editorial=editorial,
        articles=tuple(a for a in (_article(ctx, p) for p in data.get("articles") or ()) if a),
        events=tuple(e for e in (_event(ctx, p) for p in data.get("events") or ()) if e),
        notes=_texts(data.get("notes")),
    )
    if ctx.problems:
        raise IssueError(ctx.problems)
    _semantic_warnings(ctx, issue, root, meta_node)
    _scaffold_warnings(ctx, source)
    return issue, ctx.warnings


def load_issue_with_warnings(path: str | Path) -> tuple[Issue, list[Problem]]:
    """Read and parse an issue file; errors name the file, line and column."""
    p = Path(path)
    try:
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
