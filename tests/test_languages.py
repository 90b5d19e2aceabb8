"""Text in another language than its issue: lang attributes, CJK fonts, CJK wrapping."""

from __future__ import annotations

import re
from pathlib import Path

from edition_helpers import font_of, lang_of

from newsletter.config import load_settings
from newsletter.issue.load import parse_issue
from newsletter.render import render_issue
from newsletter.render.wrap import display_width, wrap

ROOT = Path(__file__).resolve().parents[1]
RIVERSIDE = load_settings(ROOT / "examples" / "riverside" / "newsletter.toml")

ENGLISH_WITH_CHINESE = """\
issue:
  date: 2026-12
  language: en
  subject: "The Riverside Letter, December 2026"
  preheader: "A letter from our sister workshop in Foshan"
articles:
  - title: Winter Fair
    paragraphs:
      - "The fair opens at ten."
      - text: "欢迎大家来参加冬季集市。"
        language: zh
  - id: foshan
    language: zh
    title: 来自佛山姊妹工作坊的来信
    paragraphs:
      - "LETTER"
      - text: "A quote in English inside the Chinese letter."
        language: en
    sections:
      - title: 工作坊简介
        paragraphs: ["我们成立于二〇一九年。"]
""".replace(
    "LETTER",
    "今年我们一共举办了十二次“开放日”活动，参加者来自社区的各个年龄段，"
    "其中最年轻的只有七岁，最年长的已经八十多岁了。我们希望明年能与你们一起合作。",
)


def _rendered():
    issue, warnings = parse_issue(ENGLISH_WITH_CHINESE, "2026-12.yaml")
    assert warnings == []
    return issue, render_issue(issue, RIVERSIDE)


def test_a_chinese_article_in_an_english_issue_is_marked_lang_zh() -> None:
    _, r = _rendered()
    html = r.html
    assert re.search(r'<html[^>]* lang="en"', html)
    assert lang_of(html, "Winter Fair") == "en"
    assert lang_of(html, "The fair opens at ten.") == "en"
    # the article, its heading, paragraphs and its section
    for text in ("来自佛山姊妹工作坊的来信", "今年我们一共举办了", "工作坊简介", "我们成立于"):
        assert lang_of(html, text) == "zh", text
        assert re.search(r"font-family:\s*'PingFang SC'", font_of(html, text)), text
    # a paragraph in another language than its article, both ways
    assert lang_of(html, "欢迎大家来参加冬季集市。") == "zh"
    assert lang_of(html, "A quote in English inside the Chinese letter.") == "en"
    # the English text keeps the Latin-first stack of the issue
    assert "-apple-system" in font_of(html, "The fair opens at ten.").split(",")[0]


def test_the_lang_mark_survives_css_inlining_with_the_paragraph_styles() -> None:
    _, r = _rendered()
    p = re.search(r"<p ([^>]*)>欢迎大家", r.html)
    assert p and ' lang="zh"' in f" {p.group(1)}", "the lang attribute survives the inliner"
    style = re.search(r'style="([^"]*)"', p.group(1)).group(1)
    assert "margin" in style and "PingFang SC" in style  # the theme's rule and the CJK fonts


def test_the_text_part_wraps_the_chinese_article_as_chinese() -> None:
    _, r = _rendered()
    lines = r.text.splitlines()
    start = lines.index("来自佛山姊妹工作坊的来信")
    letter = lines[start : start + 12]
    assert letter[1] == "=" * display_width(letter[0])  # underline as wide as the title
    body = [x for x in letter if x.startswith(("今年", "的", "岁")) or "“" in x or "”" in x]
    assert body
    for line in letter:
        # the curly quotes are full width in Chinese text: 78 columns counted that way
        assert display_width(line, cjk=True) <= 78, line
        assert not line.startswith(("，", "。", "”", "）")), line
        assert not line.endswith(("“", "（")), line
    assert "".join(x for x in letter if x and not x.startswith("=")).startswith(
        "来自佛山姊妹工作坊的来信今年我们一共举办了十二次“开放日”活动"
    )


def test_cjk_wrapping_counts_ambiguous_marks_double_and_keeps_latin_words_whole() -> None:
    text = "Dortmund、Nürnberg、Köln、Göttingen、“开放日”活动的参加者来自社区的各个年龄段"
    assert display_width("“开放日”") == 8 and display_width("“开放日”", cjk=True) == 10
    for width in range(12, 40):
        lines = wrap(text, width, cjk=True)
        assert "".join(lines) == text  # nothing added or lost, no space invented
        assert all(display_width(x, cjk=True) <= width for x in lines), (width, lines)
        words = re.findall(r"[A-Za-zäöüÄÖÜ]+", " ".join(lines))
        assert set(words) <= {"Dortmund", "Nürnberg", "Köln", "Göttingen"}, (width, lines)
        assert not any(x.endswith("“") or x.startswith(("”", "、")) for x in lines), lines


def test_german_text_is_not_wrapped_as_chinese() -> None:
    text = "„Drei gewinnt“ – so heißt das Netzwerk von Rüsselsheim, Raunheim und Kelsterbach."
    assert wrap(text, 30) == [
        "„Drei gewinnt“ – so heißt das",
        "Netzwerk von Rüsselsheim,",
        "Raunheim und Kelsterbach.",
    ]
