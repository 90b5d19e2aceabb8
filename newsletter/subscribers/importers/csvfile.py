"""Reading subscriber CSV files the way people actually save them.

Excel and friends produce UTF-8 with or without a BOM, Windows-1252 (a German
Excel "CSV" file), semicolons instead of commas, and quoted fields that span
lines. We detect all of that up front in one streaming pass over the bytes,
so the import itself can stream too, and every record carries the physical
line it starts on: that is the number an editor shows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import Problem
from newsletter.subscribers.errors import ImportError_

csv.field_size_limit(1 << 24)


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    values: dict[str, str]
    """Cell values by lower-cased, stripped column name."""


def file_error(path: Path, message: str, line: int | None = None) -> ImportError_:
    """One located problem with a subscriber file, as the error an import raises."""
    return ImportError_([Problem(message, file=str(path), line=line)])


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when every line is UTF-8, else ``cp1252``; refuses binary and broken UTF-8.

    A file with valid multi-byte UTF-8 *and* invalid bytes is a damaged UTF-8
    file, not a Windows one: decoding it as cp1252 would turn every umlaut
    into mojibake, so that is an error naming the line.
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        raise file_error(path, f"cannot read: {exc.strerror}") from exc
    with f:
        head = f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        saw_utf8 = False
        fallback_line: int | None = None
        for number, raw in enumerate(f, 1):
            if b"\0" in raw:
                raise file_error(
                    path, "not a text file (contains NUL bytes); export it as CSV", number
                )
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                saw_utf8 = True
            except UnicodeDecodeError as exc:
                if fallback_line is None:
                    fallback_line = number
                if saw_utf8:
                    raise file_error(
                        path,
                        f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}) in a file that is "
                        "otherwise UTF-8; fix the line or save the file again as UTF-8",
                        number,
                    ) from None
            if fallback_line is not None:
                try:
                    raw.decode("cp1252")
                except UnicodeDecodeError as exc:
                    raise file_error(
                        path,
                        f"neither UTF-8 nor Windows-1252 text (byte 0x{raw[exc.start]:02x}); "
                        "save the file as CSV UTF-8",
                        number,
                    ) from None
                if saw_utf8:
                    raise file_error(path, "mixes UTF-8 and Windows-1252 text", number)
    return "cp1252" if fallback_line is not None else "utf-8-sig"


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: 0 for d in ",;\t"}
    quoted = False
    for c in first_line:
        if c == '"':
            quoted = not quoted
        elif not quoted and c in counts:
            counts[c] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


_ROW_START = re.compile(r'\s*"?[^\s@,;"]+@[^\s@,;"]+\.[^\s@,;"]+"?\s*$')


def _looks_like_a_row(text: str, delimiter: str, width: int) -> bool:
    """A line inside a field that reads like a subscriber row: an address, then the delimiter."""
    first, sep, _ = text.partition(delimiter)
    return bool(_ROW_START.match(first)) and (bool(sep) or width == 1)


class _CountingReader(io.RawIOBase):
    """Counts bytes handed to the text decoder, for a progress bar."""

    def __init__(self, raw: io.BufferedReader):
        self.raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self.raw.readinto(b)
        self.consumed += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


class CsvFile:
    """A CSV file opened for streaming, with its encoding, delimiter and header."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.encoding = detect_encoding(self.path)
        self.size = self.path.stat().st_size
        self._counter = _CountingReader(self.path.open("rb"))
        self._text = io.TextIOWrapper(
            io.BufferedReader(self._counter, 1 << 16), encoding=self.encoding, newline=""
        )
        first = self._text.readline()
        if not first.strip():
            self.close()
            raise file_error(self.path, "empty file: expected a header row with an email column", 1)
        self.delimiter = _sniff_delimiter(first)
        header = next(csv.reader([first], delimiter=self.delimiter))
        self.header = [h.strip() for h in header]
        self.columns = [h.lower() for h in self.header]
        seen: set[str] = set()
        for name in self.columns:
            if name and name in seen:
                self.close()
                raise file_error(self.path, f"column {name!r} appears twice in the header", 1)
            seen.add(name)

    @property
    def bytes_read(self) -> int:
        return self._counter.consumed

    def _lines(self) -> Iterator[str]:
        """The physical lines, remembering those of the record being read (for a lost quote)."""
        for text in self._text:
            self._record_lines.append(text)
            yield text

    def _unclosed_quote(self, cells: list[str], line: int) -> ImportError_ | None:
        """A quote that never closes turns the following rows into one field of this one.

        Python's csv module (like Excel) reads on to the next quote or the end of
        the file without complaint, so the import would quietly lose those rows:
        seen as a field whose later lines start with an address and a delimiter,
        or as the file ending inside the quote.
        """
        suspect = next(
            (
                i
                for i, cell in enumerate(cells)
                if any(
                    _looks_like_a_row(r, self.delimiter, len(cells)) for r in cell.split("\n")[1:]
                )
            ),
            None,
        )
        if suspect is None:
            try:
                list(csv.reader(self._record_lines, delimiter=self.delimiter, strict=True))
                return None
            except csv.Error as exc:
                if "unexpected end of data" not in str(exc):
                    return None
            suspect = next((n for n, c in enumerate(cells) if "\n" in c), len(cells) - 1)
        opened = line + sum(c.count("\n") for c in cells[:suspect])
        column = self.header[suspect] if suspect < len(self.header) else f"field {suspect + 1}"
        return file_error(
            self.path,
            f'the quote (") that opens {column!r} is never closed, so the lines after it were '
            "read into that field; close the quote and import again",
            opened,
        )

    def records(self) -> Iterator[Record | Problem]:
        """Data records, or a Problem for a record with the wrong number of fields."""
        self._record_lines: list[str] = []
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        columns = self.columns
        width = len(columns)
        offset = 1  # the header line was consumed before the reader started
        previous_end = 0
        try:
            for cells in reader:
                line = previous_end + 1 + offset
                last = self._record_lines[-1] if self._record_lines else "\n"
                # a field holding a line break read from one line: the file ended in its quote
                spans = reader.line_num - previous_end > 1 or any("\n" in c for c in cells)
                if spans or not last.endswith("\n"):
                    # spans lines, or ends the file: maybe a lost quote
                    unclosed = self._unclosed_quote(cells, line)
                    if unclosed is not None:
                        raise unclosed
                self._record_lines.clear()
                previous_end = reader.line_num
                if not "".join(cells).strip():
                    continue  # a blank line, or only empty cells
                if len(cells) != width:
                    yield Problem(
                        f"has {len(cells)} fields, the header has {width}"
                        + (" (a quote may be missing)" if len(cells) < width else ""),
                        file=str(self.path),
                        line=line,
                    )
                    continue
                yield Record(line, dict(zip(columns, cells, strict=True)))
        except csv.Error as exc:
            raise file_error(self.path, f"malformed CSV: {exc}", reader.line_num + offset) from exc
        except UnicodeDecodeError as exc:
            raise file_error(self.path, f"cannot decode as {self.encoding}: {exc.reason}") from exc

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
