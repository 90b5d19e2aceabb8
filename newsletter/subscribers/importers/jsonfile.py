"""Reading subscriber JSON files: our own JSON export, or any JSON array of objects.

``subscribers export --format json`` writes one object per line inside the
array, so its files stream back in constant memory, line by line, with the
real line number of each row. Other JSON arrays (pretty-printed by some tool,
or all on one line as ``json.dump`` writes them) are parsed whole; each
object's line is found from its offset. Cells become the same strings a CSV
file would hold, so every format converter works on either kind of file
unchanged.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from newsletter.errors import Problem
from newsletter.subscribers.importers.csvfile import CsvFile, Record, file_error

BOM = codecs.BOM_UTF8


def looks_like_json(path: Path) -> bool:
    """True when the first non-blank character (after a BOM) opens a JSON array."""
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False  # the CSV reader reports unreadable files
    return head.startswith(b"[")


def cell(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def open_table(path: str | Path) -> CsvFile | JsonFile:
    """The subscriber file at ``path``, read as JSON when it is a JSON array, else as CSV."""
    p = Path(path)
    return JsonFile(p) if looks_like_json(p) else CsvFile(p)


class JsonFile:
    """A JSON array of subscriber objects, with the same interface as ``CsvFile``."""

    encoding = "utf-8"
    delimiter = "json"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size
            # Binary, decoded line by line: a byte that is not UTF-8 is then
            # reported on its line instead of escaping as a UnicodeDecodeError.
            self._file = self.path.open("rb")
        except OSError as exc:
            raise file_error(self.path, f"cannot read: {exc.strerror}") from exc
        self._consumed = 0
        self._first = self._peek_first_object()
        self.header = list(self._first[1].keys()) if self._first else []
        self.columns = [h.strip().lower() for h in self.header]
        if not self.columns:
            self.close()
            raise file_error(self.path, "empty JSON array: expected objects with an email field", 1)

    @property
    def bytes_read(self) -> int:
        return self._consumed

    def _objects(self) -> Iterator[tuple[int, Any]]:
        """(line, value) for each array element: line by line, else the whole file."""
        self._file.seek(0)
        seen_any = False
        for number, raw in enumerate(self._file, 1):
            self._consumed += len(raw)
            text = self._decode(raw.removeprefix(BOM) if number == 1 else raw, number)
            text = text.strip().removesuffix(",")
            if text in ("[", "]", "[]", ""):
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                if seen_any:
                    raise file_error(self.path, "invalid JSON on this line", number) from None
                value = None
            if not seen_any and not isinstance(value, dict):
                # Not one object per line: some other tool's layout, or the
                # whole array on one line.
                yield from self._whole_file()
                return
            seen_any = True
            yield number, value

    def _decode(self, raw: bytes, line: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise file_error(
                self.path,
                f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}); JSON files must be UTF-8",
                line + raw.count(b"\n", 0, exc.start),
            ) from None

    def _whole_file(self) -> Iterator[tuple[int, Any]]:
        self._file.seek(0)
        text = self._decode(self._file.read().removeprefix(BOM), 1)
        self._consumed = self.size
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise file_error(self.path, f"invalid JSON: {exc.msg}", exc.lineno) from None
        if not isinstance(data, list):
            raise file_error(self.path, "expected a JSON array of objects", 1)
        decoder = json.JSONDecoder()
        pos = text.index("[") + 1
        line, counted = 1, 0
        for _ in data:
            while text[pos] in " \t\r\n,":
                pos += 1
            line += text.count("\n", counted, pos)
            counted = pos
            value, pos = decoder.raw_decode(text, pos)
            yield line, value

    def _peek_first_object(self) -> tuple[int, dict[str, Any]] | None:
        for line, value in self._objects():
            if not isinstance(value, dict):
                raise file_error(self.path, "expected an object ({…}) for each subscriber", line)
            return line, value
        return None

    def records(self) -> Iterator[Record | Problem]:
        """One record per object; an object with other fields than the first is a problem."""
        columns = self.columns
        self._consumed = 0
        for line, value in self._objects():
            if not isinstance(value, dict):
                yield Problem("expected an object ({…})", file=str(self.path), line=line)
                continue
            values = {str(k).strip().lower(): cell(v) for k, v in value.items()}
            unknown = sorted(set(values) - set(columns))
            if unknown:
                yield Problem(
                    f"field(s) {', '.join(unknown)} not in the first object",
                    file=str(self.path),
                    line=line,
                )
                continue
            yield Record(line, {c: values.get(c, "") for c in columns})

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
