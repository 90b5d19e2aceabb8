"""The structure of one ISA issue: editorial, articles with sections, events.

Works on blocks of seed lines (one article each) and files every line as a
paragraph, link label, source, fact, section or speaker.
"""

from __future__ import annotations

import re

from seed_text import (
    UNIT_RE,
    Line,
    Report,
    dehyphenate,
    is_continuation,
    join_lines,
    join_title,
    link_label,
    linkify,
    vocabulary,
)

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
SPEAKERS_HEADING_RE = re.compile(r"^Die Referent(inn)?en$")


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
        return ordered_article(art)

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


def ordered_article(art: dict) -> dict:
    """Keys in the order docs/issue-format.md lists them, so the YAML reads like the docs."""
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
        twin.update(ordered_article(twin))
    return [ordered_article(a) for a in out]
