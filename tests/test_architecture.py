"""The package layout stays true: lower stages never import higher ones, no module circles.

``docs/architecture.md`` draws the same floors; a change here needs a change there. The
checker reads the source with ``ast`` (no import runs), counts every import, also those
inside functions and ``TYPE_CHECKING`` blocks (a lazy import upward is still a dependency),
and resolves ``from pkg import name`` to the submodule when ``name`` is one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module may import its own component, or any component on a lower floor.
# The shared helpers on the ground floor may import each other (the circle check still applies).
FLOORS: list[set[str]] = [
    {
        "__init__",
        "clock",
        "config",
        "configkinds",
        "configschema",
        "db",
        "destinationconfig",
        "errors",
        "fsutil",
        "hashing",
        "i18n",
        "languages",
        "lightdb",
        "ratelimit",
        "tabular",
        "themes",
        "tokens",
        "tomlfile",
    },
    {"issue", "subscribers", "transports"},
    {"message"},
    {"render"},
    {"campaigns"},
    {"workbench", "inbound", "workers", "doctor"},
    {"demo"},
    {"web"},
    {"cli"},
    {"__main__"},
]
SHARED_FLOOR = 0


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted name of every module under ``package_dir``; a package is named by its ``__init__``."""
    base = package_dir.name
    names: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([base, *parts])] = path
    return names


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports, resolved to the most specific module."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                source = ".".join(anchor + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names]
            targets = [t if t in known else source for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def floor_of(comp: str, floors: list[set[str]]) -> int:
    for i, members in enumerate(floors):
        if comp in members:
            return i
    raise AssertionError(f"{comp!r} is on no floor: add it to FLOORS and to docs/architecture.md")


def upward_imports(package_dir: Path, floors: list[set[str]]) -> list[str]:
    names = module_names(package_dir)
    known = set(names)
    problems = []
    for name, path in names.items():
        mine = component(name)
        for target in sorted(imports_of(path, name, known)):
            theirs = component(target)
            if theirs == mine:
                continue
            a, b = floor_of(mine, floors), floor_of(theirs, floors)
            if b > a or (a == b and a != SHARED_FLOOR):
                problems.append(f"{name} imports {target} ({mine} may not depend on {theirs})")
    return problems


def circles(package_dir: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import circles."""
    names = module_names(package_dir)
    known = set(names)
    graph = {n: sorted(imports_of(p, n, known)) for n, p in names.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_stage_imports_a_higher_one() -> None:
    assert upward_imports(ROOT / "newsletter", FLOORS) == []


def test_no_two_modules_import_each_other() -> None:
    assert circles(ROOT / "newsletter") == []


def test_top_level_holds_only_packages_and_shared_helpers() -> None:
    loose = {p.stem for p in (ROOT / "newsletter").glob("*.py")}
    assert loose <= FLOORS[SHARED_FLOOR] | {"__main__"}
    assert not {"model", "models"} & loose


def test_every_component_is_documented() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    packages = {p.name for p in (ROOT / "newsletter").iterdir() if (p / "__init__.py").exists()}
    for name in packages:
        assert f"`{name}/`" in text, f"docs/architecture.md does not describe {name}/"


def _synthetic(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    for rel, body in {
        "__init__.py": "",
        "errors.py": "",
        "low/__init__.py": "from pkg import errors\n",
        "low/a.py": "from pkg.low import b\n",
        "low/b.py": "",
        "high/__init__.py": "from pkg.low import a\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(body)
    return pkg


SYNTHETIC_FLOORS = [{"__init__", "errors"}, {"low"}, {"high"}]


def test_checker_passes_a_clean_synthetic_package(tmp_path: Path) -> None:
    pkg = _synthetic(tmp_path)
    assert upward_imports(pkg, SYNTHETIC_FLOORS) == []
    assert circles(pkg) == []


def test_checker_catches_an_upward_import_even_inside_a_function(tmp_path: Path) -> None:
    pkg = _synthetic(tmp_path)
    (pkg / "low" / "b.py").write_text("def f():\n    from pkg.high import thing\n")
    assert upward_imports(pkg, SYNTHETIC_FLOORS) == [
        "pkg.low.b imports pkg.high (low may not depend on high)"
    ]


def test_checker_catches_a_circle_and_resolves_relative_imports(tmp_path: Path) -> None:
    pkg = _synthetic(tmp_path)
    (pkg / "low" / "b.py").write_text("from . import a\n")
    assert circles(pkg) == [["pkg.low.a", "pkg.low.b"]]
