"""Language editions: 2021-07.yaml and 2021-07.zh.yaml load, render and are compared by check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from edition_helpers import ISA_CONFIG, ISSUES, edit, july_editions, lang_of

from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.errors import IssueError
from newsletter.issue.editions import load_editions
from newsletter.issue.files import edition_paths, issue_files, split_edition
from newsletter.issue.load import parse_issue
from newsletter.render import render_issue
from newsletter.render.wrap import display_width


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(ISA_CONFIG), "check", *args])
    return result.exit_code, result.output


def edition_warnings(output: str) -> list[str]:
    """check's output without the archive's known warnings (links whose URL was lost)."""
    return [line for line in output.splitlines() if "warning:" in line and "has no URL" not in line]


def test_the_two_july_editions_validate_and_render() -> None:
    editions, _ = load_editions(ISSUES / "2021-07.zh.yaml")
    assert editions.languages == ("de", "zh")
    de, zh = editions.primary.issue, editions.get("zh").issue
    assert (zh.month, zh.number) == (de.month, de.number) == (de.month, 18)  # number is shared
    assert zh.page == "2021-07.zh" and de.page == "2021-07"

    settings = load_settings(ISA_CONFIG)
    r_de, r_zh = render_issue(de, settings), render_issue(zh, settings)
    assert re.search(r'<html[^>]* lang="de"', r_de.html)
    assert re.search(r'<html[^>]* lang="zh"', r_zh.html)
    assert (r_de.subject, r_zh.subject) == ("ISA-Newsletter Juli 2021", "ISA 通讯 2021年7月")
    assert r_zh.view_url == "https://newsletter.example.org/archive/2021-07/zh/"
    # the translated about/contact block replaces the organisation's German one
    assert "中德工业城市联盟（ISA）联系方式：" in r_zh.text
    assert "Kontakt Chinesisch-Deutsche Industriestädteallianz" not in r_zh.text
    assert "中德工业城市联盟（ISA）是由中国和德国" in r_zh.html
    assert lang_of(r_zh.html, "德国能源署（dena）的试点项目") == "zh"
    assert "阅读更多" not in r_zh.html  # the link whose address was lost is left out, as in German
    # the text part fits 78 columns counted the way a Chinese mail client sets it
    for line in r_zh.text.splitlines():
        assert display_width(line, cjk=True) <= 78 or "://" in line, line
        assert not line.startswith(("，", "。", "、", "）", "”")), line
    # the German names stay as the archive writes them
    for name in ("Friedhelm Ost", "Dortmund", "DOaccelerate", "Ang Ye", "Bao’an", "Shenzen"):
        assert name in r_zh.text


def test_check_of_the_committed_editions_reports_nothing_between_them() -> None:
    code, output = check(str(ISSUES / "2021-07.yaml"), str(ISSUES / "2021-07.zh.yaml"))
    assert code == 0, output
    assert edition_warnings(output) == []
    assert output.splitlines()[-1].startswith("2 file(s): 0 error(s), ")


def test_check_finds_an_article_missing_from_the_translation(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    # the translation no longer says it leaves out the train article on purpose
    edit(zh, "wuppertal-hidden-champions, schnellster-zug-welt, ", "wuppertal-hidden-champions, ")
    code, output = check(str(de))  # checking the original alone also compares its editions
    assert code == 0
    line = next(n for n, t in enumerate(de.read_text().splitlines(), 1) if "schnellster-zug" in t)
    assert edition_warnings(output) == [
        f"{de}:{line}: warning: article 'schnellster-zug-welt' is missing from the zh edition "
        f"({zh})"
    ]
    strict, _ = check("--strict", str(zh))
    assert strict == 2


def test_check_finds_an_article_only_the_translation_has(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    edit(zh, "footer:\n", "  - id: neu\n    title: 只在中文版中\n    paragraphs: [文字]\nfooter:\n")
    _, output = check(str(zh))
    line = next(n for n, t in enumerate(zh.read_text().splitlines(), 1) if "id: neu" in t)
    assert f"{zh}:{line}: warning: article 'neu' is missing from the de edition ({de})" in output


def test_check_finds_a_missing_link_and_an_untranslated_subject(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    edit(zh, "      - label: 在此了解项目的更多信息\n", "")
    edit(zh, "subject: ISA 通讯 2021年7月", "subject: ISA-Newsletter  Juli 2021")
    edit(zh, "preheader: 德国能源署在华节能建筑试点项目；Dortmund 征集国际初创企业", "")
    edit(de, "  preheader:", "  preheader: Startups\n  x-preheader:")  # makes de invalid …
    code, output = check(str(de), str(zh))
    assert code == 2  # … and a file that does not load is not compared
    assert "missing from" not in output
    edit(de, "  preheader: Startups\n  x-preheader:", "  preheader:")
    _, output = check(str(de), str(zh))
    warnings = edition_warnings(output)
    assert f"{zh}: warning: issue.subject: the same as in the de edition; translate it" in warnings
    german = "Pilotprojekte der dena für energieeffizientes Bauen in China, Startups gesucht"
    assert f"preheader: {german}\n" in de.read_text(encoding="utf-8")
    edit(zh, "  subject: ISA-Newsletter  Juli 2021", f"  subject: ISA 通讯\n  preheader: {german}")
    _, output = check(str(de), str(zh))
    warnings = edition_warnings(output)
    assert (
        f"{zh}: warning: issue.preheader: the same as in the de edition; translate it" in warnings
    )
    assert not any("issue.subject" in w for w in warnings)
    assert any(
        "link 'Hier finden Sie weitere Infos zum Projekt' of article "
        "'internationale-startups-zusammenarbeit' is missing from the zh edition" in w
        for w in warnings
    ), warnings


def test_articles_without_ids_are_matched_by_position_with_a_warning(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    for path in (de, zh):
        path.write_text(re.sub(r"  - id: .*\n    ", "  - ", path.read_text()), encoding="utf-8")
    zh.write_text(re.sub(r"  omits: .*\n", "", zh.read_text()), encoding="utf-8")
    _, output = check(str(de))
    warnings = edition_warnings(output)
    assert any(
        w.startswith(f"{de}:")
        and "5 article(s) without an id, matched with the other editions by position" in w
        for w in warnings
    )
    # by position, articles 3 to 5 are what the translation lacks
    assert sum("is missing from the zh edition" in w for w in warnings) == 3
    assert any("article 'Schnellster Zug der Welt bald in China' is missing" in w for w in warnings)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("date: 2021-07", "date: 2021-08", "issue.date: 2021-08 differs from 2021-07"),
        ("language: zh", "language: zh\n  number: 19", "issue.number: 19 differs from 18"),
    ],
)
def test_editions_share_date_and_number(tmp_path: Path, old: str, new: str, message: str) -> None:
    de, zh = july_editions(tmp_path)
    edit(zh, old, new)
    code, output = check(str(zh))
    assert code == 2
    assert f"{zh}: {message}" in output
    with pytest.raises(IssueError):
        load_editions(de)


def test_edition_language_must_match_its_file_name(tmp_path: Path) -> None:
    _, zh = july_editions(tmp_path)
    edit(zh, "language: zh", "language: en")
    code, output = check(str(zh))
    assert code == 2
    assert (
        f"{zh}:17:13: issue.language: this file is the 'zh' edition (by its name) but says 'en'"
        in output
    )


def test_duplicate_ids_and_bad_ids_are_errors(tmp_path: Path) -> None:
    de, _ = july_editions(tmp_path)
    edit(de, "id: internationale-startups-zusammenarbeit", "id: pilotprojekte-deutschen-energie")
    edit(de, "id: schnellster-zug-welt", "id: Schneller Zug")
    code, output = check(str(de))
    assert code == 2
    assert (
        "articles[1].id: 'pilotprojekte-deutschen-energie' is already the id of article 1" in output
    )
    assert "articles[3].id: 'Schneller Zug' is not an id; use lowercase letters" in output


def test_omitting_an_unknown_id_is_reported(tmp_path: Path) -> None:
    _, zh = july_editions(tmp_path)
    edit(zh, "omits: [", "omits: [gibt-es-nicht, ")
    _, output = check(str(zh))
    assert f"{zh}: warning: issue.omits: 'gibt-es-nicht' is no article or event id of" in output


def test_an_edition_without_its_original_is_reported(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    de.unlink()
    code, output = check(str(zh))
    assert code == 0  # the file itself is fine and renders on its own
    assert f"{zh}: warning: is an edition of {de}, which does not exist" in output
    with pytest.raises(IssueError, match="which does not exist"):
        load_editions(zh)


def test_edition_files_are_found_by_name(tmp_path: Path) -> None:
    de, zh = july_editions(tmp_path)
    (tmp_path / "2021-07.draft.yaml").write_text("x", encoding="utf-8")  # not a language
    (tmp_path / "2021-06.yaml").write_text("x", encoding="utf-8")
    assert split_edition(zh) == ("2021-07", "zh")
    assert split_edition(tmp_path / "2021-07.draft.yaml") == ("2021-07.draft", None)
    assert edition_paths(zh) == edition_paths(de) == [de, zh]
    assert [p.name for p in issue_files(tmp_path)] == [
        "2021-06.yaml",
        "2021-07.draft.yaml",
        "2021-07.yaml",
    ]
    # `newsletter new` takes the newest original, not its translation
    assert issue_files(ISSUES)[-1].name == "2021-07.yaml"


def test_new_scaffolds_from_the_original_not_the_translation(tmp_path: Path) -> None:
    july_editions(tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(ISA_CONFIG), "new", "2021-08", "--issues-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "language: de" in (tmp_path / "2021-08.yaml").read_text(encoding="utf-8")


def test_the_documented_chinese_edition_is_a_valid_edition_of_july() -> None:
    doc = (ISSUES.parent / "docs" / "issue-format.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(# 2021-07\.zh\.yaml.*?)```", doc, re.S)
    assert example, "docs/issue-format.md shows a Chinese edition"
    issue, _ = parse_issue(example.group(1), "2021-07.zh.yaml")
    primary = load_editions(ISSUES / "2021-07.yaml")[0].primary.issue
    ids = {a.id for a in primary.articles}
    assert issue.edition == "zh" and issue.month == primary.month
    assert {a.id for a in issue.articles} | set(issue.omits) == ids


def test_an_edition_rendered_alone_shows_the_issue_number_its_mail_shows(tmp_path: Path) -> None:
    """render (and preview, screenshot: the same loader) of 2021-07.zh.yaml, which leaves the
    number to the primary; the campaign's zh mail says 第18期, the render said nothing."""
    out = tmp_path / "out"
    zh = ISSUES / "2021-07.zh.yaml"
    result = CliRunner().invoke(
        cli, ["--config", str(ISA_CONFIG), "render", str(zh), "-o", str(out), "--format", "both"]
    )
    assert result.exit_code == 0, result.output
    text = (out / "2021-07.zh.txt").read_text("utf-8")
    html = (out / "2021-07.zh.html").read_text("utf-8")
    assert "第18期" in text and "第18期" in html
    editions, _ = load_editions(zh)
    sent = render_issue(editions.get("zh").issue, load_settings(ISA_CONFIG))
    assert "第18期" in sent.text
