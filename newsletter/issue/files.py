"""Which files make up an issue: ``2021-07.yaml`` and its language editions ``2021-07.zh.yaml``.

One file per edition, named after the primary file, so every file is a
complete issue that ``check`` and ``render`` take on its own, a translator
edits only theirs, and the set is found by name alone (no index to keep).
"""

from __future__ import annotations

import re
from pathlib import Path

from newsletter import languages

_SUFFIXES = (".yaml", ".yml")
_EDITION = re.compile(r"(?P<base>.+)\.(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)")


def split_edition(path: str | Path) -> tuple[str, str | None]:
    """``2021-07.zh.yaml`` → ``("2021-07", "zh")``; ``2021-07.yaml`` → ``("2021-07", None)``.

    Only a known language code counts as an edition suffix, so a file named
    ``2021-07.draft.yaml`` stays an issue of its own.
    """
    name = Path(path).name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    m = _EDITION.fullmatch(name)
    if m and languages.is_available(m.group("lang")):
        return m.group("base"), m.group("lang")
    return name, None


def is_edition_file(path: str | Path) -> bool:
    """Whether ``path`` is a translation (``NAME.LANG.yaml``) of another file."""
    return split_edition(path)[1] is not None


def issue_files(folder: Path) -> list[Path]:
    """The primary file of every issue in ``folder``, oldest first (``YYYY-MM`` sorts by date)."""
    found = [p for s in _SUFFIXES for p in folder.glob(f"*{s}")]
    return sorted((p for p in found if not is_edition_file(p)), key=lambda p: p.name)


def edition_paths(path: Path) -> list[Path]:
    """The files of the issue ``path`` belongs to: the primary first, then each edition by language.

    ``path`` may name the primary or any edition. Named itself, the primary
    is listed even if it does not exist (loading it says so); found from an
    edition, a missing primary is left out (the caller reports it).
    """
    base, language = split_edition(path)
    folder = path.parent
    if language is None:
        primary = [path]
    else:
        primary = [folder / f"{base}{s}" for s in _SUFFIXES if (folder / f"{base}{s}").exists()]
    editions = sorted(
        (
            p
            for s in _SUFFIXES
            for p in folder.glob(f"{glob_escape(base)}.*{s}")
            if split_edition(p)[0] == base and is_edition_file(p)
        ),
        key=lambda p: split_edition(p)[1] or "",
    )
    return primary[:1] + editions


def glob_escape(text: str) -> str:
    """Escape the glob characters of a file name (``[``, ``*``, ``?``)."""
    return re.sub(r"([\[\]*?])", r"[\1]", text)
