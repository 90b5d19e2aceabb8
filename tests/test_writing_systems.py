"""Every shipped language renders: right-to-left Arabic, fonts by script, Japanese wrapping.

Issue 18. The HTML checks of every published page (``html_checks``: lang,
dir, headings, no template leftovers) run on an issue in each of the 16
shipped languages; Chromium measures directions and the fonts it uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from html_checks import html_problems

from newsletter import languages
from newsletter.config import load_settings
from newsletter.issue.load import load_issue, parse_issue
from newsletter.render import render_issue
from newsletter.render.wrap import display_width

ROOT = Path(__file__).resolve().parents[1]
OBSERVATOIRE = ROOT / "examples" / "observatoire"
SHIPPED = [
    "de", "en", "fr", "es", "it", "nl", "pt", "pl", "sv", "cs", "ja", "ko", "zh-Hans", "zh-Hant",
    "ar", "tr",
]  # fmt: skip

ISSUE = """\
issue:
  date: 2027-01
  language: {lang}
  number: 3
  subject: S
  preheader: P
editorial:
  paragraphs: ["{text}"]
articles:
  - title: "{text}"
    paragraphs: ["{text}"]
    source: Example
    links: [{{url: "https://example.org/more"}}]
  - title: T2
    paragraphs: ["{text}"]
events:
  - title: E
    date: 2027-01-22
    start: "20:00"
    timezone: Europe/Zurich
    place: Genève
    registration: {{url: "https://example.org/register"}}
"""


def _settings():
    return load_settings(ROOT / "newsletter.toml")


@pytest.mark.parametrize("lang", SHIPPED)
def test_an_issue_in_each_shipped_language_passes_the_html_checks(lang: str) -> None:
    issue, warnings = parse_issue(ISSUE.format(lang=lang, text="Text"), "i.yaml")
    assert warnings == []
    r = render_issue(issue, _settings())
    assert html_problems(r.html, lang, final=False) == []
    from newsletter.i18n import get_locale

    loc = get_locale(lang)
    for key in ("view_in_browser", "events", "registration", "read_more"):
        assert loc[key] in r.html and loc[key] in r.text, (lang, key)
    assert loc.format_date(issue.events[0].date) in r.text
    assert loc["issue_number"].format(number=3) in r.html


def test_an_arabic_issue_is_right_to_left_in_html_and_text() -> None:
    settings = load_settings(OBSERVATOIRE / "newsletter.toml")
    r = render_issue(load_issue(OBSERVATOIRE / "issues" / "2027-01.ar.yaml"), settings)
    assert re.search(r'<html lang="ar" dir="rtl"', r.html)
    assert html_problems(r.html, "ar", final=False) == []
    # MJML columns and text blocks are right-to-left and right-aligned
    assert "direction:rtl" in r.html and "direction:ltr" not in r.html
    assert "text-align:right" in r.html
    # the French quotation inside is marked left-to-right, aligned on its own side
    p = re.search(r"<p ([^>]*)>« Une comète", r.html)
    assert p and 'lang="fr"' in p.group(1) and 'dir="ltr"' in p.group(1)
    assert "text-align: left" in p.group(1)
    assert "اقرأ المزيد: " in r.html and " ←</a>" in r.html  # the arrow points the way Arabic reads
    # the text part: Arabic lines start with a right-to-left mark, the French one does not
    line = next(x for x in r.text.splitlines() if "رصد فريقنا" in x)
    assert line.startswith("\u200f")
    assert next(x for x in r.text.splitlines() if "Une comète" in x).startswith("«")


def test_an_arabic_paragraph_in_a_german_issue_gets_dir_rtl() -> None:
    source = ISSUE.format(lang="de", text="Deutscher Text").replace(
        '    paragraphs: ["Deutscher Text"]\n    source',
        '    paragraphs:\n      - "Deutscher Text"\n      - text: "مرحبًا بكم في المرصد."\n'
        "        language: ar\n    source",
        1,
    )
    issue, _ = parse_issue(source, "de.yaml")
    r = render_issue(issue, _settings())
    assert re.search(r'<html lang="de" dir="ltr"', r.html)
    p = re.search(r"<p ([^>]*)>مرحبًا بكم", r.html)
    assert p, "the Arabic paragraph"
    assert 'lang="ar"' in p.group(1) and 'dir="rtl"' in p.group(1)
    assert "text-align: right" in p.group(1) and "Noto Sans Arabic" in p.group(1)
    line = next(x for x in r.text.splitlines() if "مرحبًا" in x)
    assert line.startswith("\u200f")


JAPANESE = """\
issue:
  date: 2027-01
  language: ja
  subject: 天文台だより
articles:
  - title: 新しい彗星
    paragraphs:
      - "{text}"
"""


def test_a_japanese_issue_wraps_at_78_columns_of_display_width() -> None:
    text = (
        "一月十二日、私たちのチームは口径一・二メートルの望遠鏡で、これまで知られていなかった彗星を発見しました。"
        * 3
    )
    issue, _ = parse_issue(JAPANESE.format(text=text), "ja.yaml")
    r = render_issue(issue, _settings())
    body = [x for x in r.text.splitlines() if any(c in x for c in "望遠鏡彗星")]
    assert len(body) >= 4, body
    for line in body:
        assert display_width(line, cjk=True) <= 78, line
        assert not line.startswith(("、", "。")), line
    assert max(display_width(x, cjk=True) for x in body) >= 74  # filled, not wrapped at 39
    joined = "".join(x for x in r.text.splitlines() if x in body)
    assert text in joined


def test_fonts_follow_the_script() -> None:
    from newsletter.render.language import fonts_for

    assert "CJK" not in fonts_for("de") and "CJK" not in fonts_for("ru")
    assert fonts_for("zh").startswith("'PingFang SC'")
    assert fonts_for("zh-Hant").startswith("'PingFang TC'")
    assert "Noto Sans CJK JP" in fonts_for("ja") and "Noto Sans CJK KR" in fonts_for("ko")
    assert "Noto Sans Arabic" in fonts_for("ar")


@pytest.mark.parametrize("width", [600, 375])
def test_in_chromium_arabic_reads_right_to_left_and_german_uses_a_latin_font(
    browser, width: int
) -> None:
    settings = load_settings(OBSERVATOIRE / "newsletter.toml")
    ar = render_issue(load_issue(OBSERVATOIRE / "issues" / "2027-01.ar.yaml"), settings)
    de = render_issue(load_issue(ROOT / "issues" / "2021-07.yaml"), _settings())
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.set_content(ar.html, wait_until="domcontentloaded")
        title = page.locator("h2", has_text="مذنب جديد")
        assert title.evaluate("e => getComputedStyle(e).direction") == "rtl"
        box = title.bounding_box()
        assert box and width - (box["x"] + box["width"]) < 40, "the heading starts on the right"
        quote = page.locator("p", has_text="Une comète")
        assert quote.evaluate("e => getComputedStyle(e).direction") == "ltr"

        page.set_content(de.html, wait_until="domcontentloaded")
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        used: set[str] = set()
        for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "p.nl-p"})[
            "nodeIds"
        ][:12]:
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            used |= {f["familyName"] for f in fonts}
        assert used, "no font measured"
        assert not any("CJK" in f or "Droid Sans Fallback" in f for f in used), used
    finally:
        page.close()


def test_in_chromium_the_arabic_sign_up_page_is_right_to_left_and_fits_a_phone(browser) -> None:
    """The honeypot was hidden 10 000 px to the left: in a right-to-left page that is
    scrollable, and the page was 10 375 px wide on a phone."""
    from newsletter.web.pages import Pages, language_choices
    from newsletter.web.zones import zone_choices

    pages = Pages(load_settings(OBSERVATOIRE / "newsletter.toml"))
    css = pages.asset("style.css.j2")
    page = browser.new_page(viewport={"width": 375, "height": 700})
    try:
        for lang, fonts in (("ar", "Geeza Pro"), ("de", "-apple-system"), ("ja", "Hiragino")):
            html = pages.render(
                "subscribe.html.j2", lang, static="", form=True, action="/subscribe/lettre",
                list_name="La lettre", description=None, languages=language_choices(), csrf="x",
                language=lang, email="", name="", error=None, zones=zone_choices(lang),
                timezone="",
            )  # fmt: skip
            assert html_problems(html, lang) == []
            html = html.replace('<link rel="stylesheet" href="style.css">', f"<style>{css}</style>")
            page.set_content(html, wait_until="domcontentloaded")
            assert page.evaluate("document.documentElement.scrollWidth") == 375, lang
            h1 = page.locator("h1")
            assert h1.evaluate("e => getComputedStyle(e).direction") == languages.direction(lang)
            assert h1.evaluate("e => getComputedStyle(e).fontFamily").startswith(
                (fonts, f'"{fonts}')
            ), lang
    finally:
        page.close()
