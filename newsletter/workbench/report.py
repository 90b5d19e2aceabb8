"""The pre-send report: everything that could go wrong with an issue, in one list.

``newsletter check --report`` prints it. It starts with what ``check`` finds
in the YAML (with file:line:col), renders the issue as subscribers get it
and adds what only the result shows: contrast in light and dark mode, images
without size or alt text, http:// addresses, size against Gmail's clipping
limit, how much of the HTML is text, subject and preheader, the unsubscribe
link, brand colours that fail with white text, and on request every link's
answer and SpamAssassin's score. Each finding has a severity: ``error``
(exit 2: do not send), ``warning`` (exit 0, or 2 with ``--strict``),
``note`` (for information; never changes the exit status) and ``ok`` (the
measured value of a check that passed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.errors import IssueError, Problem
from newsletter.issue.model import Article, Image, Issue
from newsletter.message import media
from newsletter.message.placeholders import UNSUBSCRIBE_URL
from newsletter.render import GMAIL_CLIP_BYTES, Rendered, render_issue
from newsletter.render.colour import AA_NORMAL, contrast, parse_colour, readable_on
from newsletter.workbench import contrast as contrast_check
from newsletter.workbench import htmldoc
from newsletter.workbench.authoring import check_edition_sets, check_file
from newsletter.workbench.links import LinkResult, check_links
from newsletter.workbench.media_report import image_findings
from newsletter.workbench.spam import check_spam, compose_sample

SUBJECT_PHONE = 50  # phones show about this many characters of a subject
PREHEADER_SHOWN = 140  # inbox previews show about 90–140 characters
TEXT_SHARE_MIN = 0.05


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str
    where: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    path: Path
    findings: list[Finding] = field(default_factory=list)

    def add(
        self, check: str, severity: str, message: str, where: str | None = None, **data: Any
    ) -> None:
        self.findings.append(Finding(check, severity, message, where, data))

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    def exit_code(self, *, strict: bool = False) -> int:
        """2 when the issue should not go out as it is, else 0."""
        return 2 if self.count("error") or (strict and self.count("warning")) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "findings": [asdict(f) for f in self.findings],
        }


def build_report(
    path: Path,
    settings: Settings,
    *,
    links: bool = False,
    spam: bool = True,
    link_progress: Callable[[LinkResult], None] | None = None,
) -> Report:
    """Check ``path`` as ``check`` does, then the rendered issue as subscribers get it."""
    report = Report(path)
    # The size check below replaces check's own, so it is not listed twice.
    result = check_file(path, settings, render=False)
    for problem in (*result.errors, *result.warnings):
        report.add("yaml", problem.severity, problem.message, _where(problem))
    for problem in check_edition_sets([path]):
        report.add("editions", problem.severity, problem.message, _where(problem))
    if result.issue is None:
        return report
    try:
        rendered = render_issue(result.issue, settings)
    except IssueError as exc:  # e.g. over the rendered-size ceiling
        for problem in exc.problems:
            report.add("render", "error", problem.message, str(path))
        return report
    yaml_messages = " ".join(p.message for p in result.warnings)
    doc = htmldoc.parse(rendered.html)
    _unsubscribe(report, rendered)
    _size(report, rendered, doc)
    _subject_and_preheader(report, rendered)
    own = {img.src for img in issue_images(result.issue)}
    own |= set(media.referenced(rendered.html))  # local images: the YAML check located them
    _images(report, doc, own)
    image_findings(report.add, rendered, settings)
    _insecure(report, doc, yaml_messages)
    _contrast(report, doc, settings)
    _brand_colours(report, settings)
    if links:
        _links(report, doc, link_progress)
    if spam:
        _spam(report, rendered, settings)
    return report


def _where(problem: Problem) -> str | None:
    parts = [str(x) for x in (problem.file, problem.line, problem.column) if x is not None]
    where = ":".join(parts)
    if problem.field and problem.line is None:
        where = f"{where}: {problem.field}" if where else problem.field
    return where or None


def _unsubscribe(report: Report, r: Rendered) -> None:
    missing = [
        part for part, body in (("HTML", r.html), ("text", r.text)) if UNSUBSCRIBE_URL not in body
    ]
    if missing:
        report.add(
            "unsubscribe",
            "error",
            f"no unsubscribe link in the {' and '.join(missing)} part: a template dropped "
            "{{ unsubscribe_url }}; the law and every mailbox provider require one",
        )
    else:
        report.add("unsubscribe", "ok", "one-click unsubscribe link in both parts")


def _size(report: Report, r: Rendered, doc: htmldoc.Document) -> None:
    kb = r.html_bytes / 1024
    if r.html_bytes > GMAIL_CLIP_BYTES:
        report.add(
            "size",
            "warning",
            f"HTML is {kb:.0f} KB; Gmail clips messages over 102 KB (and hides the unsubscribe "
            "link with the rest)",
            bytes=r.html_bytes,
        )
    else:
        report.add("size", "ok", f"HTML is {kb:.0f} KB of Gmail's 102 KB", bytes=r.html_bytes)
    visible = sum(len(t.encode("utf-8")) for _, t in contrast_check.visible_texts(doc))
    share = visible / r.html_bytes if r.html_bytes else 0
    text_bytes = len(r.text.encode("utf-8"))
    message = (
        f"text is {share:.0%} of the HTML ({visible / 1024:.1f} KB of {kb:.1f} KB); "
        f"plain-text part {text_bytes / 1024:.1f} KB"
    )
    if share < TEXT_SHARE_MIN:
        report.add(
            "text-ratio",
            "warning",
            message + "; spam filters distrust mail that is mostly markup or images",
            share=round(share, 3),
        )
    elif text_bytes < visible / 2:
        report.add(
            "text-ratio",
            "warning",
            message + "; the plain-text part lacks much of what the HTML says",
            share=round(share, 3),
        )
    else:
        report.add("text-ratio", "ok", message, share=round(share, 3))


def _subject_and_preheader(report: Report, r: Rendered) -> None:
    n = len(r.subject)
    if n > SUBJECT_PHONE:
        report.add(
            "subject",
            "note",
            f"subject is {n} characters; phones show about {SUBJECT_PHONE}: "
            f"{r.subject[:SUBJECT_PHONE]!r}…",
            length=n,
        )
    else:
        report.add("subject", "ok", f"subject is {n} characters", length=n)
    if not r.preheader:
        return  # check's YAML warning already says so
    p = len(r.preheader)
    if r.preheader.strip().casefold() == r.subject.strip().casefold():
        report.add("preheader", "note", "preheader repeats the subject; it has room for more")
    elif p > PREHEADER_SHOWN:
        report.add(
            "preheader",
            "note",
            f"preheader is {p} characters; inboxes show about 90–{PREHEADER_SHOWN}",
            length=p,
        )
    else:
        report.add("preheader", "ok", f"preheader is {p} characters", length=p)


def issue_images(issue: Issue) -> list[Image]:
    """The issue's own images; the YAML check already located their missing alt texts."""

    def of(art: Article) -> list[Image]:
        return ([art.image] if art.image else []) + [i for s in art.sections for i in of(s)]

    return [i for a in issue.articles for i in of(a)] + [e.image for e in issue.events if e.image]


def _images(report: Report, doc: htmldoc.Document, located: set[str]) -> None:
    images = [el for el in doc.elements() if el.tag == "img"]
    bad = 0
    for img in images:
        src = img.attrs.get("src", "?")
        problems = []
        own = src in located or any(src.endswith(name) for name in located)
        if not img.attrs.get("alt", "").strip() and not own:
            problems.append("no alt text (screen readers and blocked images show nothing)")
        width = img.attrs.get("width", "")
        if not width.isdigit():
            problems.append(
                f"width {width!r} is not in pixels (Outlook desktop ignores CSS widths)"
                if width
                else "no width attribute (Outlook desktop shows it at full size)"
            )
        height = img.attrs.get("height")
        if height is None:
            problems.append("no height attribute")
        elif not (height.isdigit() or height == "auto"):
            problems.append(f"height {height!r} is neither pixels nor auto")
        if problems:
            bad += 1
            report.add("images", "warning", f"image {src}: " + "; ".join(problems), src=src)
    if images and not bad:
        report.add("images", "ok", f"{len(images)} image(s) with pixel width; alt text checked")


def _insecure(report: Report, doc: htmldoc.Document, yaml_messages: str) -> None:
    """One finding per insecure address, however often the page carries it (a link in the
    text and the same one in the next article were listed once each)."""
    found: dict[tuple[str, str], int] = {}
    for el in doc.elements():
        for attr in ("href", "src"):
            url = el.attrs.get(attr, "")
            # The YAML check already located the issue's own http:// links.
            if url.startswith("http://") and repr(url) not in yaml_messages:
                kind = "image" if attr == "src" else "link"
                found[kind, url] = found.get((kind, url), 0) + 1
    for (kind, url), count in found.items():
        places = f", {count} places" if count > 1 else ""
        report.add(
            "http",
            "warning",
            f"insecure http:// {kind} {url} (in the issue's text, the theme or "
            f"newsletter.toml{places}); use https://",
            url=url,
        )


def _contrast(report: Report, doc: htmldoc.Document, settings: Settings) -> None:
    names = _palette_names(settings)
    for dark in (False, True):
        mode = "dark mode" if dark else "light mode"
        m = contrast_check.measure(doc, dark=dark)
        for g in m.failing:
            fg = names.get(g.foreground, g.foreground)
            bg = names.get(g.background, g.background)
            report.add(
                "contrast",
                "warning",
                f"{mode}: {fg} on {bg} is {g.ratio:.2f}:1, WCAG AA needs {g.required:g}:1 "
                f"({g.count} text(s), e.g. {g.example.text!r})",
                g.example.where,
                mode="dark" if dark else "light",
                foreground=g.foreground,
                background=g.background,
                ratio=round(g.ratio, 2),
                required=g.required,
                texts=g.count,
            )
        if not m.failing and m.lowest is not None:
            low = m.lowest
            report.add(
                "contrast",
                "ok",
                f"{mode}: {m.texts} texts pass WCAG AA; lowest {low.ratio:.2f}:1 "
                f"({low.foreground} on {low.background})",
                mode="dark" if dark else "light",
                texts=m.texts,
                lowest=round(low.ratio, 2),
            )
        if m.unknown:
            report.add(
                "contrast",
                "note",
                f"{mode}: {m.unknown} text(s) on a background image or unknown colour not judged",
            )


def _palette_names(settings: Settings) -> dict[str, str]:
    c = settings.organisation.colours
    names: dict[str, str] = {}
    for key in ("text", "muted", "primary", "accent", "surface", "background"):
        parsed = parse_colour(getattr(c, key))
        if parsed is not None:
            names.setdefault(parsed.hex, f"colours.{key} {parsed.hex}")
    return names


def _brand_colours(report: Report, settings: Settings) -> None:
    c = settings.organisation.colours
    for key, use in (("primary", "masthead text"), ("accent", "button labels")):
        colour = getattr(c, key)
        white = contrast("#ffffff", colour)
        if white >= AA_NORMAL:
            continue
        label = readable_on(colour, dark=c.text)
        ratio = contrast(label, colour)
        fix = (
            f"the default theme writes its {use} in {label} instead ({ratio:.2f}:1)"
            if ratio >= AA_NORMAL
            else "no label colour reaches 4.5:1 on it; choose a darker or lighter shade"
        )
        report.add(
            "brand",
            "warning",
            f"brand colour colours.{key} {colour} fails WCAG AA with white text "
            f"({white:.2f}:1, needs 4.5:1); {fix}",
            colour=colour,
            white=round(white, 2),
            label=label,
        )


def _links(
    report: Report, doc: htmldoc.Document, progress: Callable[[LinkResult], None] | None
) -> None:
    urls = [el.attrs["href"] for el in doc.elements() if el.tag == "a" and "href" in el.attrs]
    urls += [el.attrs["src"] for el in doc.elements() if el.tag == "img" and "src" in el.attrs]
    results = check_links(urls, progress=progress)
    if not results:
        return
    if all(r.unreachable for r in results):
        report.add(
            "links",
            "note",
            f"no link could be reached ({results[0].error}): offline? {len(results)} link(s) "
            "not checked",
        )
        return
    broken = [r for r in results if not r.ok]
    for r in broken:
        answer = f"HTTP {r.status}" if r.status else f"no answer ({r.error})"
        report.add("links", "warning", f"{r.url}: {answer}", url=r.url, status=r.status)
    report.add("links", "ok", f"{len(results) - len(broken)} of {len(results)} link(s) answer")


def _spam(report: Report, rendered: Rendered, settings: Settings) -> None:
    inline = settings.media.mode == "inline"
    images = [i.file for i in rendered.images] if inline else []
    verdict = check_spam(compose_sample(rendered, settings, images=images))
    if verdict is None:
        report.add("spam", "note", "SpamAssassin is not installed; no spam score")
        return
    scoring = ", ".join(f"{name} {pts:+.1f}" for name, pts in verdict.scoring)
    others = ", ".join(name for name, pts in verdict.rules if (name, pts) not in verdict.scoring)
    message = f"SpamAssassin {verdict.score:.1f} points (spam from {verdict.required:.1f})"
    if scoring:
        message += f": {scoring}"
    if others:
        message += f"; without points: {others}"
    data = {"score": verdict.score, "required": verdict.required, "rules": dict(verdict.rules)}
    if verdict.is_spam:
        report.add("spam", "error", message, **data)  # type: ignore[arg-type]
    elif verdict.score > 0:
        report.add("spam", "warning", message, **data)  # type: ignore[arg-type]
    else:
        report.add("spam", "ok", message, **data)  # type: ignore[arg-type]
