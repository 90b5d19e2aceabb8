"""Convert the ISA newsletter archive (plain text extracted from the PDF) to YAML issues.

    python scripts/convert_seed.py [--seed FILE] [--out DIR] [--report]

The archive holds 18 monthly issues, newest first, each starting with a header
line such as ``Juli 2021``; the lines before the first header are the
organisation's "about" block and belong to no issue. Inside an issue, articles
are separated by lines holding only a non-breaking space.

The PDF extraction left artefacts that this script repairs, and nothing else:
words hyphenated at old line breaks ("Anstren-gungen"), sentences wrapped onto
the next line, titles split over two lines, and link labels whose URL was lost
("Lesen Sie mehr: Link"). The few judgement calls that no rule captures live in
the tables of ``seed_tables.py``, so that running the script regenerates exactly
the committed files. ``--report`` prints every decision to stderr for review.

This file splits the archive into issues and writes them; ``seed_parse.py``
reads one issue's structure and ``seed_text.py`` repairs its text.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

# scripts/ is not a package: make the sibling modules importable however this file is loaded.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_parse import SECTION_RE, Parser, merge_duplicates, ordered_article, to_event
from seed_tables import EVENTS, NOTE, PREHEADERS
from seed_text import Line, Report

REPO = Path(__file__).resolve().parents[1]
# The text extracted from the customer's PDF archive; a copy lives in the repository so
# the conversion (and its tests) run from any clone.
SEED_FILE = Path("tests") / "fixtures" / "isa-archive.txt"
NBSP = "\xa0"

MONTHS = {
    "Januar": 1, "Februar": 2, "März": 3, "April": 4, "Mai": 5, "Juni": 6, "Juli": 7,
    "August": 8, "September": 9, "Oktober": 10, "November": 11, "Dezember": 12,
}  # fmt: skip
MONTH_NAMES = {n: name for name, n in MONTHS.items()}
HEADER_RE = re.compile(rf"^({'|'.join(MONTHS)}) (\d{{4}})$")
# Words left out of ids: they make ids longer without telling articles apart.
ID_STOPWORDS = frozenset(
    {
        "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "und", "oder",
        "für", "in", "im", "ins", "mit", "von", "vom", "zu", "zum", "zur", "auf", "als", "bei",
        "aus", "an", "am", "nach", "über", "unter", "wie", "sich", "ist", "sind", "wird", "werden",
    }
)  # fmt: skip
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass
class Month:
    year: int
    month: int
    lines: list[Line]

    @property
    def slug(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# --- splitting ------------------------------------------------------------------------------


def split_months(text: str) -> tuple[list[Line], list[Month]]:
    """Split the archive at month headers; return the preamble and the issues."""
    preamble: list[Line] = []
    months: list[Month] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = Line(number, raw.rstrip(" \t\r"))  # str.rstrip() would eat the NBSP
        m = HEADER_RE.match(line.text)
        if m:
            months.append(Month(int(m[2]), MONTHS[m[1]], []))
        elif months:
            months[-1].lines.append(line)
        else:
            preamble.append(line)
    return preamble, months


def split_blocks(lines: list[Line]) -> list[list[Line]]:
    """Split an issue at the separator lines (only a non-breaking space)."""
    blocks: list[list[Line]] = [[]]
    for line in lines:
        if line.text.strip(" \t") == NBSP:
            blocks.append([])
        else:
            blocks[-1].append(line)
    return [b for b in blocks if any(ln.text.strip() for ln in b)]


# --- building ---------------------------------------------------------------------------------


def build_issue(month: Month, number: int, parser: Parser) -> dict:
    blocks = split_blocks(month.lines)
    editorial = parser.editorial(blocks[0])
    articles: list[dict] = []
    events: list[dict] = []
    for block in blocks[1:]:
        extra = EVENTS.get((month.slug, parser.title(block)))
        if extra is not None:
            events.append(to_event(block, extra, parser))
            if parser.report:
                parser.report.add("event", block[0].number, events[-1]["title"])
            continue
        art = parser.article(block)
        if SECTION_RE.match(art["title"]) and articles:
            parent = articles[-1]
            parent.setdefault("sections", []).append(art)
            # "Weitere Informationen" after the last city belongs to the whole list.
            if art.get("links"):
                parent.setdefault("links", []).extend(art.pop("links"))
            articles[-1] = ordered_article(parent)
        else:
            articles.append(art)
    issue = {
        "issue": {
            "date": month.slug,
            "number": number,
            "language": "de",
            "title": "ISA-Newsletter",
            "subject": f"ISA-Newsletter {MONTH_NAMES[month.month]} {month.year}",
            "preheader": PREHEADERS[month.slug],
        },
        "editorial": editorial,
        "articles": merge_duplicates(articles, parser.report),
    }
    if events:
        issue["events"] = with_ids(events)
    issue["articles"] = with_ids(issue["articles"])
    issue["notes"] = [NOTE]
    return issue


def make_id(title: str, words: int = 3) -> str:
    """``Schnellster Zug der Welt bald in China`` → ``schnellster-zug-welt``.

    Ids let a translated edition name the article it translates; the first
    words of the title that say something are short and stay readable.
    """
    words_of = re.findall(r"\w+", title.lower())
    kept = [w for w in words_of if w not in ID_STOPWORDS] or words_of
    tokens = [t for w in kept for t in re.findall(r"[a-z0-9]+", w.translate(UMLAUTS))]
    return "-".join(tokens[:words]) or "item"


def with_ids(items: list[dict]) -> list[dict]:
    """Give every article or event an ``id`` (first key), unique within the issue."""
    seen: set[str] = set()
    out = []
    for item in items:
        base = make_id(item["title"])
        ident, n = base, 2
        while ident in seen:
            ident, n = f"{base}-{n}", n + 1
        seen.add(ident)
        out.append({"id": ident, **item})
    return out


# --- output -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as in docs/issue-format.md.
        super().increase_indent(flow, False)


def dump(issue: dict) -> str:
    return yaml.dump(
        issue,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=10**6,
        default_flow_style=False,
    )


def convert(seed_text: str, report: Report | None = None) -> dict[str, str]:
    """Return ``{"2021-07": yaml_text, …}`` for every issue of the archive."""
    _, months = split_months(seed_text)
    parser = Parser(seed_text, report)
    ordered = sorted(months, key=lambda m: (m.year, m.month))
    numbers = {m.slug: n for n, m in enumerate(ordered, start=1)}
    out = {}
    for month in months:
        assert len(PREHEADERS[month.slug]) <= 100, month.slug
        out[month.slug] = dump(build_issue(month, numbers[month.slug], parser))
    return out


def default_seed() -> Path:
    """The archive text kept in the repository (``$NEWSLETTER_SEED`` names another copy)."""
    env = os.environ.get("NEWSLETTER_SEED")
    return Path(env) if env else REPO / SEED_FILE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=Path, default=None, help=f"archive text (default: {SEED_FILE})")
    ap.add_argument("--out", type=Path, default=REPO / "issues", help="output directory")
    ap.add_argument("--report", action="store_true", help="print every repair to stderr")
    args = ap.parse_args(argv)
    seed = args.seed or default_seed()
    report = Report() if args.report else None
    files = convert(seed.read_text(encoding="utf-8"), report)
    args.out.mkdir(parents=True, exist_ok=True)
    for slug, text in files.items():
        (args.out / f"{slug}.yaml").write_text(text, encoding="utf-8")
    if report:
        print("\n".join(report.entries), file=sys.stderr)
    print(f"wrote {len(files)} issues to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
