"""Atomic writes: the old file or the new one, never half; fsync only where it is owed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from newsletter.fsutil import write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "issue.html"
    write_atomic(target, "old")
    write_atomic(target, "neu – 新", mode=0o640)
    assert target.read_text(encoding="utf-8") == "neu – 新"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["issue.html"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "issue.html"
    write_atomic(target, "old")

    def broken(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["issue.html"]


def test_only_durable_writes_fsync(tmp_path: Path, monkeypatch) -> None:
    """Settings and subscriber files are fsynced; render output (rebuilt by rendering) is not."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    write_atomic(tmp_path / "a.toml", "x = 1\n")
    assert len(calls) == 1
    write_atomic(tmp_path / "a.html", "<p>", durable=False)
    assert len(calls) == 1


def test_render_writes_without_fsync(tmp_path: Path, monkeypatch) -> None:
    from newsletter.config import Settings
    from newsletter.workbench.authoring import render_files

    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    issue = Path(__file__).resolve().parents[1] / "issues" / "2021-07.yaml"
    written = render_files([issue], tmp_path, Settings(), fmt="both")
    assert sorted(p.name for p in written) == ["2021-07.html", "2021-07.txt"]
    assert calls == []
