"""CSS inlining (css-inline): what email clients need survives, and nothing else changes.

Each check compares mjml-python's output before inlining with the rendered
issue after it, for all 18 ISA issues and the Riverside example (which has
images and a logo).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import issue_mjml, render_issue
from newsletter.render.html import inline_css, mjml_to_html

ROOT = Path(__file__).resolve().parents[1]
RIVERSIDE = ROOT / "examples" / "riverside"
CASES = [(ROOT / "newsletter.toml", f) for f in sorted((ROOT / "issues").glob("*.yaml"))] + [
    (RIVERSIDE / "newsletter.toml", RIVERSIDE / "issues" / "2026-11.yaml")
]
CONDITIONAL = re.compile(r"<!--\[if [^\]]*\]>.*?<!\[endif\]-->", re.S)
STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.S)


@pytest.fixture(scope="module", params=CASES, ids=[f.stem for _, f in CASES])
def before_after(request) -> tuple[str, str]:
    config, path = request.param
    settings = load_settings(config)
    issue = load_issue(path)
    return mjml_to_html(issue_mjml(issue, settings)), render_issue(issue, settings).html


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def page(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def media_rules(css: str) -> list[str]:
    """Each ``@media`` block, whitespace normalised, found by brace matching."""
    rules = []
    for m in re.finditer(r"@media\b", css):
        depth, i = 0, css.index("{", m.start())
        for j in range(i, len(css)):
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            if depth == 0:
                rules.append(" ".join(css[m.start() : j + 1].split()))
                break
    return rules


def outside_comments(html: str) -> str:
    return re.sub(r"<!--.*?-->", "", html, flags=re.S)


def test_every_media_rule_survives(before_after) -> None:
    before, after = before_after
    wanted = media_rules(" ".join(STYLE.findall(outside_comments(before))))
    kept = media_rules(" ".join(STYLE.findall(outside_comments(after))))
    assert len(wanted) >= 3
    assert kept == wanted


def test_outlook_conditional_comments_survive_byte_for_byte(before_after) -> None:
    before, after = before_after
    wanted = CONDITIONAL.findall(before)
    assert any("<o:OfficeDocumentSettings>" in c for c in wanted)
    assert CONDITIONAL.findall(after) == wanted


def test_images_keep_mjml_pixel_width_attributes(before_after) -> None:
    before, after = before_after
    widths = [a.get("width") for t, a in page(after).tags if t == "img"]
    assert widths == [a.get("width") for t, a in page(before).tags if t == "img"]
    assert all(w and w.isdigit() for w in widths), widths  # never "100%": Outlook obeys it


def test_riverside_images_are_552_pixels_and_the_logo_160() -> None:
    settings = load_settings(RIVERSIDE / "newsletter.toml")
    html = render_issue(load_issue(RIVERSIDE / "issues" / "2026-11.yaml"), settings).html
    imgs = {a["src"].rsplit("/", 1)[-1]: a for t, a in page(html).tags if t == "img"}
    (loom,) = [a for t, a in page(html).tags if t == "img" and "/archive/media/" in a["src"]]
    assert imgs["logo.png"]["width"] == "160"
    assert loom["width"] == imgs["fair.jpg"]["width"] == "552"
    assert "width: 100%" in loom["style"]  # fluid where CSS is honoured


def test_inlining_changes_no_visible_text(before_after) -> None:
    before, after = before_after

    def words(html: str) -> list[str]:
        return " ".join(page(html).text).split()

    assert words(after) == words(before)


def test_class_rules_are_inlined_and_their_style_blocks_dropped(before_after) -> None:
    before, after = before_after
    assert ".nl-p {" in before and ".nl-facts dt {" in before
    assert after.startswith("<!DOCTYPE html>")
    h2 = [a for t, a in page(after).tags if t == "h2" and "nl-h2" in (a.get("class") or "")]
    assert h2 and all("font-size: 21px" in (a.get("style") or "") for a in h2)
    css = " ".join(STYLE.findall(outside_comments(after)))
    assert ".nl-p {" not in css and ".nl-facts dt {" not in css  # rules outside any @media


def test_a_style_with_a_media_attribute_is_kept_and_not_applied_everywhere() -> None:
    html = (
        "<!doctype html><html><head>"
        '<style media="print">p { color: green; }</style>'
        "<style>p { margin: 0; }</style></head>"
        "<body><!--[if mso]><p>Outlook</p><![endif]--><p>x</p></body></html>"
    )
    out = inline_css(html)
    assert '<style media="print">p { color: green; }</style>' in out
    assert '<p style="margin: 0;">x</p>' in out
    assert "green" not in out.split("</head>")[1]
    assert "<!--[if mso]><p>Outlook</p><![endif]-->" in out
