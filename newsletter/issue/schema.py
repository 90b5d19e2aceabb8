"""The issue YAML schema as small validator functions, one per kind of value.

Each validator gets the YAML node (which knows its line and column), reports
problems to the shared context and returns the value or None, so that every
problem in a file is collected before the loader gives up (mkdocs' approach,
with the positions mkdocs lacks). ``load.py`` builds the model from the
validated values.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from newsletter import languages
from newsletter.errors import Problem
from newsletter.issue.model import Paragraph
from newsletter.issue.zones import UnknownZone, zone

_constructor = yaml.constructor.SafeConstructor()


@dataclass
class Ctx:
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


def _scalar(ctx: Ctx, node: yaml.Node, name: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        ctx.error(node, f"{name}: expected a single value, got {kind}")
        return None
    try:
        return _constructor.construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        ctx.error(node, f"{name}: {exc.problem}")
        return None


def text(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
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


def integer(ctx: Ctx, node: yaml.Node, name: str) -> int | None:
    value = _scalar(ctx, node, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        ctx.error(node, f"{name}: expected a whole number ≥ 1, got {node.value!r}")
        return None
    return value


def month(ctx: Ctx, node: yaml.Node, name: str) -> dt.date | None:
    raw = str(getattr(node, "value", ""))
    m = re.fullmatch(r"(\d{4})-(\d{2})", raw)
    if not m or not 1 <= int(m.group(2)) <= 12:
        ctx.error(node, f"{name}: expected a month as YYYY-MM (e.g. 2021-07), got {raw!r}")
        return None
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def date(ctx: Ctx, node: yaml.Node, name: str) -> dt.date | None:
    raw = str(getattr(node, "value", ""))
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        ctx.error(node, f"{name}: expected a date as YYYY-MM-DD (e.g. 2021-06-29), got {raw!r}")
        return None


def time(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
    raw = str(getattr(node, "value", ""))
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw)
    if not m:
        ctx.error(node, f"{name}: expected a time as HH:MM (e.g. 09:30), got {raw!r}")
        return None
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def language(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
    raw = str(getattr(node, "value", ""))
    if not languages.is_available(raw):
        ctx.error(node, f"{name}: {languages.unknown_message(raw)}")
        return None
    return raw


_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


def identifier(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
    """An ``id`` that names an article or event in every edition: short, lowercase, stable."""
    raw = text(ctx, node, name)
    if raw is None:
        return None
    if not _ID.fullmatch(raw):
        ctx.error(
            node,
            f"{name}: {raw!r} is not an id; use lowercase letters, digits, '-' and '_' "
            "(e.g. dena-interview)",
        )
        return None
    return raw


def timezone(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
    raw = text(ctx, node, name)
    if raw is None:
        return None
    try:
        zone(raw)
    except UnknownZone as exc:
        ctx.error(node, f"{name}: {exc}")
        return None
    return raw


def paragraph(ctx: Ctx, node: yaml.Node, name: str) -> Paragraph | None:
    """A paragraph is text, or ``{text: …, language: zh}`` for one in another language."""
    if isinstance(node, yaml.MappingNode):
        d = validate_mapping(ctx, node, name, PARAGRAPH)
        if not d or not d.get("text"):
            return None
        return Paragraph(d["text"], d.get("language"))
    value = text(ctx, node, name)
    return None if value is None else Paragraph(value)


def url(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
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


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def image_src(ctx: Ctx, node: yaml.Node, name: str) -> str | None:
    """An absolute https:// URL, or a file path relative to the issue file that exists.

    Only that the file is there is checked here; what is in it is read when the
    issue is rendered (``newsletter.render.images``), which reports at this place too.
    """
    raw = text(ctx, node, name)
    if raw is None:
        return None
    if not is_remote_image(raw):
        return _local_image(ctx, node, name, raw)
    if raw.startswith("mailto:") or not is_valid_url(raw):
        ctx.error(
            node,
            f"{name}: invalid image URL {raw!r}; use an absolute https:// URL "
            "or a file path relative to the issue file (img/photo.jpg)",
        )
        return None
    return raw


def is_remote_image(src: str) -> bool:
    """Whether ``src`` is an address (``https://…``, also an invalid one) rather than a path."""
    return bool(_SCHEME.match(src)) or src.startswith("//")


def _local_image(ctx: Ctx, node: yaml.Node, name: str, raw: str) -> str | None:
    if raw.startswith(("/", "\\", "~")):
        ctx.error(node, f"{name}: {raw!r}: give the path relative to the issue file")
        return None
    path = local_path(ctx.file, raw)
    if not path.is_file():
        ctx.error(node, f"{name}: image file not found: {path}")
        return None
    return raw


def local_path(issue_file: str, src: str) -> Path:
    """A local image's file: ``src`` is relative to the folder of the issue file."""
    return Path(issue_file).parent / src


# --- structure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """One key of a mapping: its validator, whether it is required, and for lists the item."""

    check: Any
    required: bool = False
    many: bool = False


def validate_mapping(
    ctx: Ctx, node: yaml.Node, name: str, spec: dict[str, F]
) -> dict[str, Any] | None:
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


def _value(ctx: Ctx, node: yaml.Node, where: str, f: F) -> Any:
    if f.many:
        if not isinstance(node, yaml.SequenceNode):
            ctx.error(node, f"{where}: expected a list (items starting with '- ')")
            return None
        return [_one(ctx, item, f"{where}[{i}]", f.check) for i, item in enumerate(node.value)]
    return _one(ctx, node, where, f.check)


def _one(ctx: Ctx, node: yaml.Node, where: str, check: Any) -> Any:
    if isinstance(check, dict):
        return (validate_mapping(ctx, node, where, check), node)
    return check(ctx, node, where)


def _suggest(key: str, spec: dict[str, F]) -> str | None:
    close = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.7)
    return close[0] if close else None


PARAGRAPH = {"text": F(text, required=True), "language": F(language, required=True)}
LINK = {"label": F(text), "url": F(url)}
IMAGE = {
    "src": F(image_src, required=True),
    "alt": F(text),
    "caption": F(text),
    "width": F(integer),
    "height": F(integer),
    "href": F(url),
}
PERSON = {"name": F(text, required=True), "title": F(text), "role": F(text)}
FACT = {"label": F(text, required=True), "value": F(text, required=True)}
ARTICLE: dict[str, F] = {
    "id": F(identifier),
    "language": F(language),
    "title": F(text, required=True),
    "subtitle": F(text),
    "paragraphs": F(paragraph, many=True),
    "image": F(IMAGE),
    "facts": F(FACT, many=True),
    "source": F(text),
    "links": F(LINK, many=True),
}
ARTICLE["sections"] = F(ARTICLE, many=True)
EVENT = {
    "id": F(identifier),
    "language": F(language),
    "title": F(text, required=True),
    "date": F(date),
    "start": F(time),
    "end": F(time),
    "timezone": F(timezone),
    "place": F(text),
    "paragraphs": F(paragraph, many=True),
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
            "omits": F(identifier, many=True),
        },
        required=True,
    ),
    "editorial": F(
        {
            "salutation": F(text),
            "paragraphs": F(paragraph, many=True, required=True),
            "closing": F(text, many=True),
            "signatories": F(PERSON, many=True),
        }
    ),
    "articles": F(ARTICLE, many=True),
    "events": F(EVENT, many=True),
    "footer": F({"about": F(text, many=True), "contact": F(text, many=True)}),
    "notes": F(text, many=True),
}
