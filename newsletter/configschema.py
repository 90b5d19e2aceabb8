"""What ``newsletter.config`` declares its settings with, and building them from TOML.

mkdocs' ``config_options`` approach: every key is a dataclass field carrying a
:class:`Setting` (a validator object, a sentence of documentation, an example);
loading runs every validator, collects every problem and reports them all at
once. The same declarations write ``docs/configuration.md``, so the reference
cannot drift from the code. tomllib gives values without positions, so
:func:`key_lines` re-reads the source for the line each key is on.

The validators themselves, one per kind of value, are :mod:`newsletter.configkinds`;
they stay importable from here, where the settings are declared with them.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from dataclasses import Field, dataclass, field, fields, is_dataclass
from typing import Any

from newsletter.configkinds import (
    Address,
    Boolean,
    Colour,
    DatabaseUrl,
    FilePath,
    Host,
    Integer,
    Kind,
    Lines,
    NameServer,
    Number,
    OneOf,
    Text,
    Url,
    host_port,
    is_loopback,
)
from newsletter.errors import Problem
from newsletter.tomlfile import line_of

__all__ = [
    "Address",
    "Boolean",
    "Colour",
    "DatabaseUrl",
    "FilePath",
    "Host",
    "Integer",
    "Key",
    "Kind",
    "Lines",
    "NameServer",
    "Number",
    "OneOf",
    "Problems",
    "Setting",
    "Text",
    "Url",
    "build",
    "host_port",
    "is_loopback",
    "keys",
    "sections",
    "setting",
    "setting_of",
]


@dataclass(frozen=True)
class Setting:
    """One ``newsletter.toml`` key: how to check it and what the reference says about it."""

    kind: Kind
    doc: str
    example: Any
    default_doc: str | None = None
    """Shown instead of the default value, when the default depends on other keys."""
    toml: str | None = None
    """The dotted key in the file, for a ``Settings`` field that is not in a section table."""
    section_doc: str | None = None


def setting(
    default: Any,
    kind: Kind,
    doc: str,
    *,
    example: Any,
    default_doc: str | None = None,
    toml: str | None = None,
    section_doc: str | None = None,
) -> Any:
    """A dataclass field that is a settings key (see ``newsletter.config`` for how to add one)."""
    meta = Setting(kind, doc, example, default_doc, toml, section_doc)
    return field(default=default, metadata={"setting": meta})


def setting_of(f: Field) -> Setting | None:
    return f.metadata.get("setting")


# --- the schema as a list of keys, and building settings from a TOML document -----------------


def _section_classes(cls: type, prefix: str = "") -> Iterator[tuple[str, type]]:
    """``[table]`` names and their dataclasses: a field whose default is made by a dataclass."""
    for f in fields(cls):
        sub = f.default_factory
        if is_dataclass(sub):
            name = f"{prefix}{f.name}"
            yield name, sub
            yield from _section_classes(sub, f"{name}.")


@dataclass(frozen=True)
class Key:
    name: str
    """Dotted, as in the file: ``smtp.port``."""
    setting: Setting
    default: Any
    attribute: str
    """The dataclass field the value goes to."""


def sections(root: type) -> list[tuple[str, str]]:
    """Every ``[table]`` and its description, in declaration order."""
    found = [(name, inspect.cleandoc(cls.__doc__ or "")) for name, cls in _section_classes(root)]
    for f in fields(root):
        s = setting_of(f)
        if s and s.toml and s.section_doc:
            found.append((s.toml.rpartition(".")[0], s.section_doc))
    return found


def keys(root: type) -> list[Key]:
    """Every key of the file, section by section."""
    found: list[Key] = []
    for name, cls in _section_classes(root):
        for f in fields(cls):
            s = setting_of(f)
            if s is not None:
                found.append(Key(f"{name}.{f.name}", s, f.default, f.name))
    for f in fields(root):
        s = setting_of(f)
        if s is not None and s.toml:
            found.append(Key(s.toml, s, f.default, f.name))
    return found


@dataclass
class Problems:
    """Every problem of one file, located by the line of the key it is about."""

    file: str
    lines: dict[str, int]
    found: list[Problem] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        line = line_of(self.lines, key)
        if line is None:
            self.found.append(Problem(message, file=self.file, field=key))
        else:
            self.found.append(Problem(f"{key}: {message}", file=self.file, line=line, field=key))
        self.found.sort(key=lambda p: p.line or 0)


def _did_you_mean(name: str, known: list[str]) -> str:
    table, _, bare = name.rpartition(".")
    same_table = [k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == table]
    close = difflib.get_close_matches(bare, same_table, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {table}.{close[0]}?"
    elsewhere = [k for k in known if k.rpartition(".")[2] == bare]
    close = elsewhere or difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def build(root: type, data: dict[str, Any], problems: Problems, **extra: Any) -> Any:
    """``root`` built from a TOML document; each bad or unknown key is added to ``problems``.

    A bad value leaves the default in place, so one mistake does not hide the next.
    """
    all_keys = keys(root)
    known = [k.name for k in all_keys]
    by_table: dict[str, dict[str, Key]] = {}
    for k in all_keys:
        table, _, bare = k.name.rpartition(".")
        by_table.setdefault(table, {})[bare] = k
    classes = dict(_section_classes(root))
    values: dict[str, dict[str, Any]] = {name: {} for name in ["", *classes]}

    def walk(table: str, value: Any) -> None:
        if not isinstance(value, dict):
            problems.add(table, f"must be a table ([{table}]), got {type(value).__name__}")
            return
        for key, item in value.items():
            name = f"{table}.{key}"
            if name in classes:
                walk(name, item)
            elif key in by_table.get(table, {}):
                k = by_table[table][key]
                try:
                    converted = k.setting.kind.convert(item)
                except ValueError as exc:
                    # a table-valued setting says which of its keys each problem is about
                    for sub, message in getattr(exc, "problems", None) or [("", str(exc))]:
                        problems.add(f"{name}.{sub}" if sub else name, message)
                    continue
                values[table if table in classes else ""][k.attribute] = converted
            else:
                problems.add(name, f"unknown key {name}{_did_you_mean(name, known)}")

    tables = list(dict.fromkeys(n for n in [*classes, *by_table] if "." not in n))
    for key, value in data.items():
        if key in tables:
            walk(key, value)
        else:
            close = difflib.get_close_matches(key, tables, n=1, cutoff=0.6)
            hint = f"; did you mean [{close[0]}]?" if close else f" (known: {', '.join(tables)})"
            problems.add(key, f"unknown section [{key}]{hint}")

    def make(cls: type, prefix: str) -> Any:
        kwargs = dict(values[prefix])
        for f in fields(cls):
            name = f"{prefix}.{f.name}" if prefix else f.name
            if name in classes:
                kwargs[f.name] = make(classes[name], name)
        return cls(**kwargs)

    values[""].update(extra)
    return make(root, "")
