"""The default theme's fixes from looking at the ISA and Riverside issues (issue 12).

What a reader sees: the preheader hidden without spam-scored tricks, lost links
left out, the footer's address once and its addresses clickable, a readable
button label for any brand colour, wrapping programme lines and the optional
"In this issue" list. Dark mode is measured in ``test_report_contrast.py``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.issue.load import load_issue, parse_issue
from newsletter.render import render_issue
from newsletter.render.colour import contrast, readable_on

ROOT = Path(__file__).resolve().parents[1]
RIVERSIDE = ROOT / "examples" / "riverside"


@pytest.fixture(scope="module")
def isa():
    settings = load_settings(ROOT / "newsletter.toml")
    issue = load_issue(ROOT / "issues" / "2021-07.yaml")
    return issue, render_issue(issue, settings), settings


@pytest.fixture(scope="module")
def riverside():
    settings = load_settings(RIVERSIDE / "newsletter.toml")
    issue = load_issue(RIVERSIDE / "issues" / "2026-11.yaml")
    return issue, render_issue(issue, settings), settings


def visible(html: str) -> str:
    html = re.sub(r"(?is)<(style|head)\b.*?</\1>", " ", html)
    html = re.sub(r'(?is)<div style="display:none;.*?</div>', " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_preheader_is_hidden_without_colour_or_tiny_font(isa) -> None:
    issue, r, _ = isa
    m = re.search(r'<div style="(display:none;[^"]*)">' + re.escape(issue.preheader), r.html)
    assert m, "preheader missing"
    style = m.group(1)
    assert "color" not in style and "font-size" not in style and "opacity" not in style
    after = html.unescape(r.html[m.end() : r.html.index("</div>", m.end())])
    assert after.count("\u200c\xa0") >= 60, "inbox previews must not run on into the body"


def test_lost_link_registration_label_stays_as_text(isa) -> None:
    src = """\
issue: {date: 2021-07, language: en, subject: S, preheader: P}
articles:
  - title: A
    paragraphs: ["x"]
    links: [{label: Gone forever}, {label: Still here, url: "https://example.org/k"}]
events:
  - title: E
    registration: {label: at the door}
"""
    issue, warnings = parse_issue(src, "l.yaml")
    assert any("'Gone forever' has no URL; it is left out" in str(w) for w in warnings)
    assert any("'at the door' has no URL; it is shown as plain text" in str(w) for w in warnings)
    r = render_issue(issue, isa[2])
    assert "Gone forever" not in r.html and "Gone forever" not in r.text
    assert 'href="https://example.org/k"' in r.html and "Still here [1]" in r.text
    assert "Registration: at the door" in visible(r.html) and "Registration: at the door" in r.text


def test_footer_shows_the_postal_address_once_and_links_its_addresses(isa, riverside) -> None:
    _, r, _ = isa
    assert visible(r.html).count("Reinhardtstraße 34") == 1
    assert r.text.count("Reinhardtstraße 34") == 1
    assert '<a class="nl-link" href="mailto:isa@pks-gmbh.net"' in r.html
    assert '<a class="nl-link" href="https://www.isa-portal.de"' in r.html
    # Riverside's contact block lacks the street, so its footer keeps the address line.
    _, rr, _ = riverside
    assert "Riverside Makerspace e.V., 12 Mill Lane, Springfield 01234" in visible(rr.html)
    assert "Riverside Makerspace e.V., 12 Mill Lane, Springfield 01234" in rr.text
    assert 'href="mailto:hello@riverside.example.net"' in rr.html


def test_button_label_is_readable_on_any_brand_colour(riverside, isa) -> None:
    assert readable_on("#f18f01") == "#111111"  # white would be 2.42:1
    assert readable_on("#a3111c") == "#ffffff"  # the ISA red keeps white (7.9:1)
    _, r, settings = riverside
    button = re.search(r'<a href="https://riverside.example.net/fair/stalls"[^>]*>', r.html)
    assert button
    label = re.search(r"[;\"']color:\s*(#[0-9a-f]{3,6})", button.group(0))
    assert label and label.group(1) == settings.organisation.colours.text
    assert contrast(label.group(1), settings.organisation.colours.accent) >= 4.5


def test_programme_lines_wrap(riverside) -> None:
    _, r, _ = riverside
    assert "Doors open, repair café starts" in r.html
    assert "nowrap" not in r.html


def test_contents_block_is_optional_and_localised(isa, riverside, tmp_path: Path) -> None:
    issue, r, _ = isa
    assert "Themen dieser Ausgabe" in visible(r.html)
    for n, article in enumerate(issue.articles, 1):
        assert re.search(
            rf'<a class="nl-link" href="#nl-{n}"[^>]*>{re.escape(article.title)}', r.html
        )
        assert re.search(rf'<h2 class="nl-h2" id="nl-{n}"', r.html)
    contents = r.text.split("Themen dieser Ausgabe\n", 1)[1].split("\n\n", 1)[0]
    assert contents.startswith("  - Pilotprojekte der Deutschen Energie-Agentur (dena)")
    assert contents.count("  - ") == len(issue.articles)
    # Off unless the organisation asks for it.
    _, rr, _ = riverside
    assert "In this issue" not in rr.html and "In this issue" not in rr.text
    config = tmp_path / "newsletter.toml"
    config.write_text("[organisation]\ncontents = true\n", encoding="utf-8")
    zh, _ = parse_issue(
        "issue: {date: 2021-07, language: zh, subject: S, preheader: P}\n"
        "articles: [{title: 甲, paragraphs: [x]}, {title: 乙, paragraphs: [y]}]\n",
        "zh.yaml",
    )
    assert "本期内容" in render_issue(zh, load_settings(config)).html
    mixed, _ = parse_issue(
        "issue: {date: 2021-07, language: en, subject: S, preheader: P}\n"
        "articles: [{title: One, paragraphs: [x]}, {title: 二, language: zh, paragraphs: [y]}]\n",
        "mixed.yaml",
    )
    assert re.search(r'<li lang="zh"[^>]*><a class="nl-link" href="#nl-2"[^>]*>二</a>',
                     render_issue(mixed, load_settings(config)).html)  # fmt: skip


@pytest.mark.timeout(120)
def test_source_and_links_sit_with_their_article(browser, riverside) -> None:
    """No 40 px gap: the source line follows the last paragraph like another paragraph."""
    _, r, _ = riverside
    page = browser.new_page(viewport={"width": 600, "height": 800})
    try:
        page.route("**/*", lambda route: route.abort())
        page.set_content(r.html, wait_until="domcontentloaded")
        gap = page.evaluate(
            """() => {
              const source = [...document.querySelectorAll("p.nl-small")]
                .find((p) => p.textContent.startsWith("Source:"));
              const top = source.getBoundingClientRect().top;
              const paragraphs = [...document.querySelectorAll("p.nl-p")]
                .filter((p) => p.getBoundingClientRect().bottom <= top);
              const last = paragraphs[paragraphs.length - 1];
              return top - last.getBoundingClientRect().bottom;
            }"""
        )
    finally:
        page.close()
    assert 0 <= gap <= 16, gap


def test_no_font_size_a_spam_filter_calls_tiny(isa, riverside) -> None:
    """SpamAssassin's raw-HTML patterns for hidden tiny text (scored with a relay without rDNS)."""
    for _, r, _ in (isa, riverside):
        assert not re.search(r"font-size:\s{0,5}[0-4]px;", r.html, re.I)  # __HTML_FONT_TINY_01
        assert not re.search(r"font-size\s*:\s*[1-3]\s*(?:em|p[tx]|%)?\s*[\";]", r.html, re.I)
        assert re.search(r"font-size:\s*0pt", r.html)  # mjml's gap fix, written in pt
