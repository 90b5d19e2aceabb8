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
the tables below, so that running the script regenerates exactly the committed
files. ``--report`` prints every decision to stderr for review.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SEED_NAME = "000_f02afc7b51460772.txt"
NBSP = "\xa0"

MONTHS = {
    "Januar": 1, "Februar": 2, "März": 3, "April": 4, "Mai": 5, "Juni": 6, "Juli": 7,
    "August": 8, "September": 9, "Oktober": 10, "November": 11, "Dezember": 12,
}  # fmt: skip
MONTH_NAMES = {n: name for name, n in MONTHS.items()}
HEADER_RE = re.compile(rf"^({'|'.join(MONTHS)}) (\d{{4}})$")

SALUTATION_RE = re.compile(r"^Liebe Mitglieder, Freunde und Förderer der ISA,$")
# Closing formulas; closing *sentences* ("… und grüßen herzlich aus Berlin.") stay paragraphs.
CLOSING_RE = re.compile(r"^(Mit herzlichen Grüßen|Herzliche Grüße|Bleiben Sie gesund|Wir grüßen)\b")
# "Friedhelm Ost, Staatssekretär a. D."; the seed drops the comma for Ernst Schwanhold.
SIGNATORY_RE = re.compile(r"^(?P<name>[A-ZÄÖÜ]\w+ [A-ZÄÖÜ]\w+),? (?P<title>Staats\w+ a\. D\.)$")
SECTION_RE = re.compile(r"^[A-ZÄÖÜ]+ \S+市 \(Provinz \w+\)$")  # "BAODING 保定市 (Provinz Hebei)"
FACT_RE = re.compile(
    r"^(?P<label>Gesamtfläche|Gesamtbevölkerung|Industriecluster|Forschung und Entwicklung):"
    r" (?P<value>.+)$"
)
SUBTITLE_RE = re.compile(r"^– .+ –$")  # "– BWA-VORSTAND MICHAEL SCHUMANN IM INTERVIEW –"
SOURCE_RE = re.compile(r"^Quelle: (?P<source>.+)$")
# A label whose link was lost. Sentences (ending in punctuation) are never labels.
LINK_PLACEHOLDER_RE = re.compile(r"^(?P<label>.+?):\s*Link$")
LINK_LABEL_RE = re.compile(
    r"^(Lesen Sie\b.*|Hier (geht|finden|können)\b.*|Zur \w+ geht es hier|Zum Nachhören"
    r"|Den vollständigen \w+ lesen Sie hier|Link|Pressemeldung|Weitere Informationen"
    r"|Agenda|Fragebogen|Ergebnis der Umfrage)$"
)
SPEAKERS_HEADING_RE = re.compile(r"^Die Referent(inn)?en$")
LETTER = r"[^\W\d_]"

# Hyphens before a lowercase letter that are real, not line-break artefacts.
REAL_HYPHEN_LEFT = {"deutsch", "chinesisch", "sino", "win", "high"}
# Explicit decisions for hyphens no rule settles, reviewed by eye: True keeps the hyphen.
HYPHEN_TABLE = {
    "know-how": True,  # from "know- how"
    "Start-ups": True,  # Duden spelling; the July 2021 issue writes "Startups"
    "weiter-wachsen": False,  # "wird das Gebiet weiterwachsen"
    "englisch-sprachigen": False,  # "englischsprachigen Zeitung"
    "Fachkräfte-einwanderungsgesetz": False,  # the law's name; both hyphens sit at old line ends
    "Pandemie-krise": False,  # lowercase after a line-break hyphen; line 877 has "Pandemie-Krise"
}
# A real hyphen followed by a stray space ("know- how"); "Corona- Pandemie" is caught by rule.
SPACE_TABLE = {
    "know- how": "know-how",
    "Internet Plus“- Messe": "Internet Plus“-Messe",
}
# Addresses are never dehyphenated: "isa@pks-gmbh.net", "https://automatica-munich.com/de/".
ADDRESS_RE = re.compile(r"\S*(@|://|www\.)\S*")
UNIT_RE = re.compile(r"\b(\d+) (k?m)2\b")  # "19.000 km2": the superscript was lost

NOTE = "Transkribiert aus dem PDF-Archiv; Link-Ziele sind nicht erhalten."
REGISTRATION_MAIL = {"label": "Anmeldung per E-Mail", "url": "mailto:isa@pks-gmbh.net"}

# Announcements of the ISA's own dated events, which readers are invited to attend.
# Keyed by (month, title); the values add what the running text states.
_KLIMA = "Einladung zur Veranstaltung „Klimaschutz als Chance für deutsche Unternehmen in China“"
EVENTS = {
    ("2021-05", _KLIMA): {
        "date": dt.date(2021, 6, 29),
        "start": "09:00",
        "end": "11:00",
        "place": "Online (Zoom)",
        "registration": REGISTRATION_MAIL,
    },
    ("2021-02", "2. ISA-Videokonferenz der Wirtschaftsförderungen und Beiräte am 24. März"): {
        "date": dt.date(2021, 3, 24),
        "place": "Online (Zoom)",  # the editorial of the issue: "per Zoom-Sitzung"
    },
    ("2020-09", "9. Plenarversammlung der ISA am 16. Oktober 2020 in Hannover"): {
        "date": dt.date(2020, 10, 16),
        "start": "09:00",
        "end": "11:00",
        "place": "Hannover und per Zoom",
        "registration": REGISTRATION_MAIL,
    },
    ("2020-06", "ISA-Videokonferenz der Wirtschaftsförderungen und Beiräte"): {
        "date": dt.date(2020, 7, 7),
        "start": "10:00",
        "end": "12:00",
        "place": "Online (Zoom)",
    },
    ("2020-02", "Wirtschaftsförderer treffen sich zur 7. ISA-Fachtagung in Neuss"): {
        "date": dt.date(2020, 4, 2),
        "place": "Neuss",
    },
}

# Inbox preview lines, written from each issue's first article titles.
PREHEADERS = {
    "2021-07": "Pilotprojekte der dena für energieeffizientes Bauen in China, Startups gesucht",
    "2021-06": (
        "ISA-Umfrage zum Marketing und Klimaschutz als Chance für deutsche Unternehmen in China"
    ),
    "2021-05": "Die ISA als Erfolgsmodell und eine Einladung: Klimaschutz als Chance in China",
    "2021-04": "ISA lädt zur Internet Plus Exposition in Foshan ein, Fachlehrer für Ma’anshan",
    "2021-03": "ISA-Fachtagung zur Wasserstofftechnologie und China als Kooperationspartner",
    "2021-02": "Neujahrsgrüße aus China, Frühlingsfest und die 2. ISA-Videokonferenz am 24. März",
    "2020-11": (
        "BWA-Vorstand Michael Schumann im Interview, Besuch der Deutschen Botschaft in Foshan"
    ),
    "2020-10": (
        "9. Plenarversammlung der ISA und die neuen Mitgliedsstädte Baoding, Huzhou, Luoyang"
        " und Xuchang"
    ),
    "2020-09": "9. Plenarversammlung der ISA am 16. Oktober 2020 in Hannover, CIPA und ISA",
    "2020-07": "Regionale Kooperationen wie die ISA und Chinas digitale Plattformökonomie",
    "2020-06": (
        "ISA-Videokonferenz am 7. Juli und Merkel: China ist wichtiger strategischer EU-Partner"
    ),
    "2020-04": (
        "Foshan spendet 100.000 Atemschutzmasken, Delegation aus Foshan kommt im Dezember 2020"
    ),
    "2020-02": "7. ISA-Fachtagung in Neuss und gesteuerte Einwanderung von Fachkräften",
    "2020-01": "Kaiserslautern im Interview und „Drei gewinnt“ lädt zu einem Seminar ein",
    "2019-12": "Qiang Rong im Interview und die ISA als Drehscheibe für Innovationen und Handel",
    "2019-11": "Petra Wassner von NRW.INVEST im Interview und GTAI zum Wirtschaftsklima in China",
    "2019-10": (
        "Bericht zur chinesisch-deutschen Kooperation der Industrieparks und Industriecluster"
    ),
    "2019-09": "6. ISA-Fachtagung in Göttingen und mobiles Bezahlen mit Alipay und WeChat Pay",
}


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the seed, for the report
    text: str


@dataclass
class Month:
    year: int
    month: int
    lines: list[Line]

    @property
    def slug(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class Report:
    """Collects every repair so a human can review them (``--report``)."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def add(self, kind: str, where: int | str, detail: str) -> None:
        self.entries.append(f"{kind:<12} {where!s:>5}  {detail}")


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


def split_groups(block: list[Line]) -> list[list[Line]]:
    """Runs of consecutive non-blank lines."""
    groups: list[list[Line]] = []
    current: list[Line] = []
    for line in block:
        if line.text.strip():
            current.append(line)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


# --- text repairs ---------------------------------------------------------------------------


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


# --- parsing ----------------------------------------------------------------------------------


class Parser:
    def __init__(self, seed_text: str, report: Report | None = None):
        self.vocab = vocabulary(seed_text)
        self.report = report

    def text(self, lines: list[Line]) -> str:
        joined = join_lines([ln.text.strip() for ln in lines])
        if self.report and len(lines) > 1:
            self.report.add("join", lines[0].number, f"{len(lines)} lines: …{joined[:60]}…")
        fixed = dehyphenate(joined, self.vocab, self.report, lines[0].number)
        return linkify(UNIT_RE.sub(r"\1 \2²", fixed))

    def title(self, block: list[Line]) -> str:
        """The block's title, repaired but not reported (to look up tables)."""
        return dehyphenate(join_title([ln.text for ln in split_groups(block)[0]]), self.vocab)

    def paragraphs(self, group: list[Line]) -> list[list[Line]]:
        """Each seed line is a paragraph unless it continues the previous one."""
        out: list[list[Line]] = []
        for line in group:
            if out and is_continuation(out[-1][-1].text.strip(), line.text.strip()):
                out[-1].append(line)
            else:
                out.append([line])
        return out

    def editorial(self, block: list[Line]) -> dict:
        lines = [ln for ln in block if ln.text.strip()]
        ed: dict = {}
        if SALUTATION_RE.match(lines[0].text):
            ed["salutation"] = lines.pop(0).text
        signatories = []
        while lines and (m := SIGNATORY_RE.match(lines[-1].text)):
            signatories.insert(0, {"name": m["name"], "title": m["title"]})
            lines.pop()
        closing: list[str] = []
        while lines and CLOSING_RE.match(lines[-1].text):
            closing.insert(0, lines.pop().text)
        body = [g for g in split_groups(block) if set(g) & set(lines)]
        keep = set(lines)
        ed["paragraphs"] = [
            self.text(p) for g in body for p in self.paragraphs([ln for ln in g if ln in keep])
        ]
        if closing:
            ed["closing"] = closing
        if len(signatories) != 2 and self.report:
            self.report.add("WARNING", block[0].number, "editorial without two signatories")
        ed["signatories"] = signatories
        return ed

    def article(self, block: list[Line]) -> dict:
        groups = split_groups(block)
        title_group = groups.pop(0)
        art: dict = {"title": self.text(title_group)}
        if self.report and len(title_group) > 1:
            self.report.add("title", title_group[0].number, art["title"])
        target = art
        for group in groups:
            first = group[0].text.strip()
            if len(group) == 1 and SECTION_RE.match(first):
                target = {"title": first}
                art.setdefault("sections", []).append(target)
                continue
            if target is art and "paragraphs" not in art and SUBTITLE_RE.match(first):
                art["subtitle"] = first
                continue
            prose: list[Line] = []
            for line in group:
                if self.special(target, line):
                    self.flush(target, prose)
                    prose = []
                else:
                    prose.append(line)
            self.flush(target, prose)
        return _ordered(art)

    def flush(self, target: dict, prose: list[Line]) -> None:
        for p in self.paragraphs(prose):
            target.setdefault("paragraphs", []).append(self.text(p))

    def special(self, target: dict, line: Line) -> bool:
        """File a link label, source or fact line into ``target``; False for prose."""
        item = line.text.strip()
        if label := link_label(item):
            target.setdefault("links", []).append({"label": label})
            if self.report:
                self.report.add("link", line.number, label)
            return True
        if m := SOURCE_RE.match(item):
            target["source"] = m["source"]
            return True
        if m := FACT_RE.match(item):
            value = self.text([Line(line.number, m["value"])])
            target.setdefault("facts", []).append({"label": m["label"], "value": value})
            return True
        return False


def _ordered(art: dict) -> dict:
    keys = ("title", "subtitle", "paragraphs", "facts", "source", "links", "sections")
    return {k: art[k] for k in keys if k in art}


def to_event(block: list[Line], extra: dict, parser: Parser) -> dict:
    """Turn an announcement into an event, keeping every sentence of it."""
    block, speakers = extract_speakers(block)
    art = parser.article(block)
    ev: dict = {"title": art["title"]}
    ev.update({k: extra[k] for k in ("date", "start", "end", "place") if k in extra})
    ev["paragraphs"] = art.get("paragraphs", [])
    if speakers:
        ev["speakers"] = [
            {"name": name, **({"role": parser.text(role)} if role else {})}
            for name, role in speakers
        ]
    if "registration" in extra:
        ev["registration"] = dict(extra["registration"])
    if art.get("links"):
        ev["links"] = art["links"]
    return ev


def extract_speakers(block: list[Line]) -> tuple[list[Line], list[tuple[str, list[Line]]]]:
    """Take "Die Referentinnen / name / role lines / und / … / werden …" out of the text.

    The seed lists the speakers inside one sentence ("Die Referentinnen … werden
    einen Überblick … geben"). The names and roles become speakers; the sentence
    keeps its subject ("Die Referentinnen werden einen Überblick …"), so no seed
    text is lost. Returns the remaining block and ``(name, role lines)`` pairs.
    """
    groups = split_groups(block)
    heading = next((i for i, g in enumerate(groups) if SPEAKERS_HEADING_RE.match(g[0].text)), None)
    if heading is None:
        return block, []
    speakers: list[tuple[str, list[Line]]] = []
    end = heading + 1
    while end < len(groups) and not _starts_sentence_tail(groups[end][0].text):
        g = groups[end]
        if g[0].text != "und":
            speakers.append((g[0].text.strip(), g[1:]))
        end += 1
    out: list[Line] = [ln for g in groups[:heading] for ln in [*g, Line(0, "")]]
    if end < len(groups):
        tail = groups[end]
        merged = Line(groups[heading][0].number, f"{groups[heading][0].text} {tail[0].text}")
        out += [merged, *tail[1:], Line(0, "")]
        end += 1
    out += [ln for g in groups[end:] for ln in [*g, Line(0, "")]]
    return out, speakers


def _starts_sentence_tail(text: str) -> bool:
    """ "werden einen Überblick …" continues the sentence; "und" only joins two names."""
    return text[:1].islower() and text != "und"


def merge_duplicates(articles: list[dict], report: Report | None) -> list[dict]:
    """The same article printed twice in one issue is kept once, with all its link labels."""
    out: list[dict] = []
    for art in articles:
        twin = next(
            (a for a in out if a["title"] == art["title"]
             and a.get("paragraphs") == art.get("paragraphs")),
            None,
        )  # fmt: skip
        if twin is None:
            out.append(art)
            continue
        if report:
            report.add("duplicate", "", art["title"])
        links = twin.setdefault("links", [])
        for link in art.get("links", []):
            if link not in links:
                links.append(link)
        twin.update(_ordered(twin))
    return [_ordered(a) for a in out]


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
            articles[-1] = _ordered(parent)
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
        issue["events"] = events
    issue["notes"] = [NOTE]
    return issue


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
    env = os.environ.get("NEWSLETTER_SEED")
    return Path(env) if env else REPO.parent / "shared" / "seeds" / SEED_NAME


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=Path, default=None, help="archive text (default: shared seed)")
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
