"""Rendering: email-grade HTML and a complete plain-text part for every issue."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from html_checks import html_problems

from newsletter.config import load_settings
from newsletter.issue.files import issue_files
from newsletter.issue.load import load_issue, parse_issue
from newsletter.message.placeholders import MANAGE_URL, UNSUBSCRIBE_URL
from newsletter.render import GMAIL_CLIP_BYTES, Rendered, render_issue
from newsletter.render.wrap import display_width

ROOT = Path(__file__).resolve().parents[1]
ISA_FILES = issue_files(ROOT / "issues")  # the primary editions; test_editions.py has the rest
RIVERSIDE = ROOT / "examples" / "riverside"


@pytest.fixture(scope="module")
def isa_settings():
    return load_settings(ROOT / "newsletter.toml")


@pytest.fixture(scope="module")
def rendered_isa(isa_settings) -> dict[str, tuple[object, Rendered]]:
    out = {}
    for f in ISA_FILES:
        issue = load_issue(f)
        out[f.stem] = (issue, render_issue(issue, isa_settings))
    return out


class _Tags(HTMLParser):
    """Collects tags, attributes and visible text to check accessibility rules."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def norm(s: str) -> str:
    return " ".join(s.split())


def test_archive_has_18_issues() -> None:
    assert len(ISA_FILES) == 18
    assert ISA_FILES[0].stem == "2019-09" and ISA_FILES[-1].stem == "2021-07"


@pytest.mark.parametrize("stem", [f.stem for f in ISA_FILES])
def test_isa_issue_is_email_grade(stem: str, rendered_isa) -> None:
    issue, r = rendered_isa[stem]
    html, text = r.html, r.text
    assert html_problems(html, "de", final=False) == []
    assert "@media" in html, "responsive rules must survive CSS inlining"
    assert "<!--[if mso" in html, "Outlook conditional comments must survive"
    assert r.html_bytes < GMAIL_CLIP_BYTES
    tags = parse(html)
    metas = {a.get("name"): a.get("content") for t, a in tags.tags if t == "meta"}
    assert metas.get("color-scheme") == "light dark"
    assert not any(t == "link" and a.get("rel") == "stylesheet" for t, a in tags.tags)
    assert all(a.get("role") == "presentation" for t, a in tags.tags if t == "table")
    # a German issue names no CJK font: one before sans-serif set German text in Chinese
    # glyphs on machines without the Latin families (issue 18)
    assert "PingFang SC" not in html and "Noto Sans CJK" not in html
    visible = norm(" ".join(tags.text))
    for art in issue.articles:
        assert norm(art.title) in visible
        assert norm(art.title) in norm(text)
    # the preheader is in the HTML but hidden
    if issue.preheader:
        assert re.search(r'<div style="display:none;[^"]*">' + re.escape(issue.preheader), html)
    for line in text.splitlines():
        assert display_width(line) <= 78 or re.match(r"^(\[\d+\] )?\S+://\S+$", line), line
    assert UNSUBSCRIBE_URL in html and UNSUBSCRIBE_URL in text
    assert "Juli" in html or stem != "2021-07"


@pytest.mark.parametrize("stem", [f.stem for f in ISA_FILES])
def test_isa_footer_has_contact_block(stem: str, rendered_isa, isa_settings) -> None:
    _, r = rendered_isa[stem]
    visible = norm(" ".join(parse(r.html).text))
    for line in isa_settings.organisation.contact:
        assert norm(line) in visible
        assert norm(line) in norm(r.text)
    assert "Reinhardtstraße 34, 10117 Berlin" in r.text


def test_german_chrome_strings(rendered_isa) -> None:
    _, r = rendered_isa["2021-07"]
    assert "Juli 2021" in r.html and "Juli 2021" in r.text
    assert "Im Browser ansehen" in r.html
    assert "Abmelden" in r.html


CHROME = """\
issue:
  date: 2021-07
  language: {lang}
  subject: S
  preheader: P
articles:
  - title: T
    paragraphs: ["x"]
    links: [{{url: "https://example.org/more"}}]
events:
  - title: E
    date: 2021-07-06
    start: "10:00"
"""


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        # a link without a label names its article ("Read more" alone means nothing)
        ("de", ["Lesen Sie mehr: T", "Juli 2021", "Dienstag, 6. Juli 2021", "Im Browser ansehen"]),
        (
            "en",
            ["Read more: T", "July 2021", "Tuesday, 6 July 2021", "View in browser", "Unsubscribe"],
        ),
        # the full date is CLDR's (Babel), without main's hand-written parentheses
        ("zh", ["阅读更多：T", "2021年7月", "2021年7月6日星期二", "在浏览器中查看", "退订"]),
    ],
)
def test_chrome_strings_localised(lang: str, expected: list[str], isa_settings) -> None:
    issue, _ = parse_issue(CHROME.format(lang=lang), "c.yaml")
    r = render_issue(issue, isa_settings)
    for s in expected:
        assert s in r.html, s
        assert s in r.text, s
    assert f'lang="{lang}"' in r.html


@pytest.mark.parametrize(
    ("lang", "label", "line"),
    [
        ("de", "Abonnements verwalten", "Name, Sprache und Listen ändern:"),
        ("en", "Manage subscriptions", "Change your name, language or lists:"),
        ("zh", "管理订阅", "更改姓名、语言或订阅列表："),
    ],
)
def test_the_footer_links_to_the_preferences_in_both_parts(
    lang: str, label: str, line: str, isa_settings
) -> None:
    issue, _ = parse_issue(CHROME.format(lang=lang), "c.yaml")
    r = render_issue(issue, isa_settings)
    assert re.search(f'<a [^>]*href="{MANAGE_URL}"[^>]*>{label}</a>', r.html)
    assert f"\n{line}\n{MANAGE_URL}\n" in r.text
    assert r.html.count(MANAGE_URL) == r.text.count(MANAGE_URL) == 1


def test_markdown_inline_and_no_raw_html(isa_settings) -> None:
    src = CHROME.format(lang="en").replace(
        'paragraphs: ["x"]',
        'paragraphs: ["**bold** and *it* <script>alert(1)</script> [site](https://example.org/s) '
        '[bad](javascript:alert(1))"]',
    )
    issue, _ = parse_issue(src, "m.yaml")
    r = render_issue(issue, isa_settings)
    assert "<strong>bold</strong>" in r.html and "<em>it</em>" in r.html
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert 'href="https://example.org/s"' in r.html
    assert "javascript:" not in r.html.replace("[bad](javascript:alert(1))", "")
    assert "site [1]" in r.text and "[1] https://example.org/s" in r.text


def test_link_without_url_is_left_out(rendered_isa) -> None:
    for _, r in rendered_isa.values():
        assert 'href=""' not in r.html and 'href="#"' not in r.html
    july, r = rendered_isa["2021-07"]
    lost = [link.label for link in july.all_links() if not link.url]
    assert "Lesen Sie mehr" in lost and "Hier können Sie sich anmelden" in lost
    visible = norm(" ".join(parse(r.html).text))
    for label in lost:
        assert label not in visible and label not in r.text
    assert "nicht erhalten" not in visible and "nicht erhalten" not in r.text


def test_template_override_replaces_default_block(tmp_path: Path) -> None:
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text><p>CUSTOM FOOTER {{ org.name }}</p>"
        '<a href="{{ unsubscribe_url }}">{{ t.unsubscribe }}</a>'
        "</mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    config = tmp_path / "newsletter.toml"
    config.write_text('[organisation]\nname = "Acme & Co"\ntemplates_dir = "templates"\n')
    settings = load_settings(config)
    issue, _ = parse_issue(CHROME.format(lang="en"), "o.yaml")
    r = render_issue(issue, settings)
    assert "CUSTOM FOOTER Acme &amp; Co" in r.html
    assert "You receive this newsletter because" not in r.html
    assert "Read more" in r.html  # the rest of the default theme still applies


def test_second_organisation_renders_with_same_templates() -> None:
    settings = load_settings(RIVERSIDE / "newsletter.toml")
    issue = load_issue(RIVERSIDE / "issues" / "2026-11.yaml")
    r = render_issue(issue, settings)
    tags = parse(r.html)
    imgs = [a for t, a in tags.tags if t == "img"]
    # the loom is a file beside the issue, published with the archive
    assert any("riverside.example.net/letters/archive/media/" in (a.get("src") or "") for a in imgs)
    assert all(a.get("alt") for a in imgs)
    assert "Winter Fair 2026" in r.html and "Saturday, 12 December 2026, 11:00–17:00" in r.text
    assert "Riverside Makerspace e.V., 12 Mill Lane" in r.html
    assert "ISA" not in r.html and "ISA" not in r.text
    assert "#0b6e4f" in r.html
    assert 'lang="en"' in r.html


def test_greeting_placeholder_for_templates_and_the_archive(tmp_path: Path) -> None:
    from newsletter.render import for_web

    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "header.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text><p>{{ greeting }}</p></mj-text></mj-column></mj-section>",
        encoding="utf-8",
    )
    config = tmp_path / "newsletter.toml"
    config.write_text('[organisation]\ntemplates_dir = "templates"\n')
    settings = load_settings(config)
    issue, _ = parse_issue(CHROME.format(lang="de"), "g.yaml")
    r = render_issue(issue, settings)
    assert re.search(r"<p[^>]*>%%GREETING%%</p>", r.html)
    assert re.search(r"<p[^>]*>Hallo,</p>", for_web(r, settings).html)


def test_cjk_text_wraps_by_display_width_without_losing_characters() -> None:
    from newsletter.render.wrap import wrap

    source = "中德工业城市联盟（ISA）成立于2016年4月。" * 12 + " Foshan 佛山市 und Aachen."
    lines = wrap(source, 78)
    assert len(lines) > 3
    assert all(display_width(line) <= 78 for line in lines)
    assert "".join(lines).replace(" ", "") == source.replace(" ", "")
    assert not any(line.startswith(("，", "。", "）")) for line in lines)  # no closing mark first


def test_check_warns_when_html_would_be_clipped_by_gmail(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newsletter.cli import cli

    big = CHROME.format(lang="en").replace(
        'paragraphs: ["x"]', "paragraphs: [" + ", ".join(['"' + "word " * 400 + '"'] * 60) + "]"
    )
    f = tmp_path / "big.yaml"
    f.write_text(big, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(ROOT / "newsletter.toml"), "check", str(f)])
    assert result.exit_code == 0
    assert re.search(
        r"warning: rendered HTML is \d+ KB; Gmail clips messages over 102 KB", result.output
    )
    strict = runner.invoke(
        cli, ["--config", str(ROOT / "newsletter.toml"), "check", "--strict", str(f)]
    )
    assert strict.exit_code == 2
