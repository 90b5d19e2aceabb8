"""Text repairs for the ISA archive: wrapped lines, line-break hyphens, lost links.

The PDF extraction hyphenated words at old line breaks ("Anstren-gungen"),
wrapped sentences onto the next line and dropped link URLs ("Lesen Sie mehr:
Link"); these functions undo that on one paragraph at a time.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from seed_tables import HYPHEN_TABLE, REAL_HYPHEN_LEFT, SPACE_TABLE

# A label whose link was lost. Sentences (ending in punctuation) are never labels.
LINK_PLACEHOLDER_RE = re.compile(r"^(?P<label>.+?):\s*Link$")
LINK_LABEL_RE = re.compile(
    r"^(Lesen Sie\b.*|Hier (geht|finden|können)\b.*|Zur \w+ geht es hier|Zum Nachhören"
    r"|Den vollständigen \w+ lesen Sie hier|Link|Pressemeldung|Weitere Informationen"
    r"|Agenda|Fragebogen|Ergebnis der Umfrage)$"
)
LETTER = r"[^\W\d_]"
# Addresses are never dehyphenated: "isa@pks-gmbh.net", "https://automatica-munich.com/de/".
ADDRESS_RE = re.compile(r"\S*(@|://|www\.)\S*")
UNIT_RE = re.compile(r"\b(\d+) (k?m)2\b")  # "19.000 km2": the superscript was lost


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the seed, for the report
    text: str


class Report:
    """Collects every repair so a human can review them (``--report``)."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def add(self, kind: str, where: int | str, detail: str) -> None:
        self.entries.append(f"{kind:<12} {where!s:>5}  {detail}")


def is_continuation(prev: str, nxt: str) -> bool:
    """True when ``nxt`` continues ``prev`` mid-sentence (a PDF line wrap).

    A seed line is normally a paragraph; a line that stops on a word, a number,
    a hyphen or a dash followed by a lowercase word was cut by the PDF layout.
    """
    if not prev or not nxt:
        return False
    if re.search(rf"({LETTER}|\d|{LETTER}-)$", prev):
        return True
    return prev.endswith(" –") and nxt[0].islower()


def join_lines(lines: list[str]) -> str:
    """Join wrapped lines: a trailing word hyphen joins directly, anything else with a space."""
    out = lines[0]
    for nxt in lines[1:]:
        if re.search(rf"{LETTER}-$", out) and nxt[:1].islower():
            out += nxt
        else:
            out += " " + nxt
    return out


def join_title(lines: list[str]) -> str:
    """A title the PDF split over several lines is one title."""
    return join_lines([ln.strip() for ln in lines])


def vocabulary(text: str) -> set[str]:
    """The seed's casefolded words: plain ones, and hyphenated pairs seen at least twice.

    A rejoined word that the seed uses elsewhere ("Anstrengungen") confirms a
    line-break hyphen; a hyphenated pair that recurs while its joined form never
    occurs ("Win-win") is probably a real compound. Pairs are stored as "x-y".
    """
    words = {w.casefold() for w in re.findall(r"(?<![\w-])\w+(?![\w-])", text)}
    pairs: dict[str, int] = {}
    for compound in re.findall(r"(?<![\w-])\w+(?:-\w+)+", text):
        parts = compound.casefold().split("-")
        for left, right in itertools.pairwise(parts):
            pairs[f"{left}-{right}"] = pairs.get(f"{left}-{right}", 0) + 1
    return words | {pair for pair, n in pairs.items() if n >= 2}


def dehyphenate(text: str, vocab: set[str], report: Report | None = None, where: int = 0) -> str:
    """Remove hyphens the PDF left at old line breaks; keep real ones.

    "Anstren-gungen" → "Anstrengungen", "Corona- Pandemie" → "Corona-Pandemie",
    but "deutsch-chinesischen", "Win-win-Modell", "US-amerikanischen",
    "-kommunikation und -pflege" and "klima- und umweltpolitischen" stay.
    """
    for bad, good in SPACE_TABLE.items():
        if bad in text:
            text = text.replace(bad, good)
            if report:
                report.add("hyphen/table", where, f"{bad} → {good}")

    def fix_space(m: re.Match[str]) -> str:
        # "Corona- Pandemie": a real hyphen whose following space is an artefact.
        if report:
            report.add("hyphen/space", where, f"{m[0]} → {m[1]}-{m[2]}")
        return f"{m[1]}-{m[2]}"

    text = re.sub(rf"(\w{LETTER})- ([A-ZÄÖÜ]\w*)", fix_space, text)

    def fix_compound(m: re.Match[str]) -> str:
        if ADDRESS_RE.fullmatch(_token_around(text, m.start(), m.end())):
            return m[0]
        parts = m[0].split("-")
        out = parts[0]
        for right in parts[1:]:
            left = re.split(r"[^\w]", out)[-1]
            keep, reason = _keep_hyphen(left, right, vocab)
            out = out + ("-" if keep else "") + right
            if report and right[:1].islower():
                verdict = "keep" if keep else "join"
                report.add(f"hyphen/{verdict}", where, f"{left}-{right} ({reason})")
        return out

    return re.sub(r"(?<![\w-])\w+(?:-\w+)+", fix_compound, text)


def _token_around(text: str, start: int, end: int) -> str:
    """The whitespace-delimited token containing ``text[start:end]``."""
    left = text.rfind(" ", 0, start) + 1
    right = text.find(" ", end)
    return text[left : right if right >= 0 else len(text)]


def _keep_hyphen(left: str, right: str, vocab: set[str]) -> tuple[bool, str]:
    if f"{left}-{right}" in HYPHEN_TABLE:
        return HYPHEN_TABLE[f"{left}-{right}"], "table"
    if not right[:1].islower() or not re.search(rf"{LETTER}$", left):
        return True, "not lowercase after a letter"
    if left.isupper():
        return True, "acronym on the left"
    if left.casefold() in REAL_HYPHEN_LEFT:
        return True, "real compound"
    if (left + right).casefold() in vocab:
        return False, "joined word occurs in the seed"
    if f"{left}-{right}".casefold() in vocab:
        return True, "hyphenated form recurs, joined form never occurs"
    return False, "default: line-break hyphen"


def link_label(line: str) -> str | None:
    """The label of a link whose URL was lost, or None when the line is prose."""
    m = LINK_PLACEHOLDER_RE.match(line)
    if m:
        return m["label"]
    if line.endswith((".", "!", "?", ":")):
        return None
    return line if LINK_LABEL_RE.match(line) else None


def linkify(text: str) -> str:
    """Make seed https URLs clickable while keeping the whole URL visible."""
    return re.sub(r"(?<!\]\()(https://[^\s)]+)", r"[\1](\1)", text)
