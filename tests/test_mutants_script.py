"""scripts/mutants.py reports a mutation it cannot apply, instead of skipping it quietly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from delivery_helpers import ROOT

spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
assert spec is not None and spec.loader is not None
mutants = importlib.util.module_from_spec(spec)
sys.modules["mutants"] = mutants  # dataclasses look their module up while the class is made
spec.loader.exec_module(mutants)


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "def f(x):\n    if x > 1:\n        return 1\n    if x > 1:\n        return 2\n",
        encoding="utf-8",
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text("", encoding="utf-8")
    return tmp_path


def _outcome(tmp_path: Path, original: str, replacement: str = "pass"):  # type: ignore[no-untyped-def]
    mutation = mutants.m("x", "pkg/m.py", original, replacement, "tests/test_m.py", "-")
    return mutants.run_one(_tree(tmp_path), mutation, list(mutation.tests), 60.0)


def test_a_line_no_longer_in_its_file_is_stale(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path, "return 3")
    assert (outcome.verdict, outcome.detail) == ("stale", "original line not found")


def test_a_line_found_twice_is_stale_rather_than_guessed(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path, "if x > 1:")
    assert outcome.verdict == "stale"
    assert outcome.detail == "original line found 2 times (lines [2, 4])"


def test_a_mutation_that_does_not_compile_is_invalid_and_the_file_is_untouched(
    tmp_path: Path,
) -> None:
    outcome = _outcome(tmp_path, "return 2", "return (")
    assert (outcome.verdict, outcome.line) == ("invalid", 5)
    assert "return 2" in (tmp_path / "pkg" / "m.py").read_text(encoding="utf-8")


def test_every_listed_mutation_names_test_modules_that_exist() -> None:
    for mutation in mutants.MUTATIONS:
        for test in mutation.tests:
            assert (ROOT / test).is_file(), (mutation.id, test)


def test_a_line_found_twice_is_told_apart_by_the_statement_it_follows(tmp_path: Path) -> None:
    mutation = mutants.m("x", "pkg/m.py", "if x > 1:", "if x > 2:", "tests/test_m.py", "-")
    text = _tree(tmp_path).joinpath("pkg", "m.py").read_text(encoding="utf-8")
    assert mutants.locate(text, mutation) == (None, "original line found 2 times (lines [2, 4])")
    second = mutants.m(
        "x", "pkg/m.py", "if x > 1:", "if x > 2:", "tests/test_m.py", "-", after="return 1"
    )
    assert mutants.locate(text, second) == (3, "")
    gone = mutants.m("x", "pkg/m.py", "return 1", "pass", "tests/test_m.py", "-", after="return 2")
    assert mutants.locate(text, gone) == (None, "original line not found after 'return 2'")


def test_every_listed_mutation_finds_its_line_once() -> None:
    """A change to a critical line shows here, in the suite, not at the next mutation run."""
    stale = {}
    for mutation in mutants.MUTATIONS:
        text = (ROOT / mutation.path).read_text(encoding="utf-8")
        index, why = mutants.locate(text, mutation)
        if index is None:
            stale[mutation.id] = f"{mutation.path}: {why}"
    assert stale == {}, "update scripts/mutants.py (and docs/testing.md): " + repr(stale)
