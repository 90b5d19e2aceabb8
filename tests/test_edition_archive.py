"""The archive of an issue in two languages: a page per edition, hreflang, a switch, the feed."""

from __future__ import annotations

import email
import re
import xml.etree.ElementTree as ET
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from edition_helpers import ISA_CONFIG, ISSUES, send_bilingual_issue

from newsletter.cli import cli

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "https://newsletter.example.org/archive"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def alternates(self) -> dict[str, str]:
        return {
            a["hreflang"] or "": a["href"] or ""
            for t, a in self.tags
            if t == "link" and a.get("rel") == "alternate" and a.get("hreflang")
        }

    def switch(self) -> dict[str, str]:
        """The language switch: ``{language: href}`` of its links."""
        return {
            a["hreflang"] or "": a["href"] or ""
            for t, a in self.tags
            if t == "a" and a.get("hreflang")
        }

    def lang(self) -> str | None:
        return next(a.get("lang") for t, a in self.tags if t == "html")


def page(path: Path) -> tuple[Page, str]:
    text = path.read_text(encoding="utf-8")
    p = Page()
    p.feed(text)
    return p, text


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "archive"
    files = [ISSUES / "2021-06.yaml", ISSUES / "2021-07.yaml", ISSUES / "2021-07.zh.yaml"]
    r = CliRunner().invoke(
        cli, ["--config", str(ISA_CONFIG), "archive", "build", str(out), *map(str, files)]
    )
    assert r.exit_code == 0, r.output
    assert r.output == f"Wrote 2 issue(s), 3 editions to {out}/ (7 files).\n"
    return out


def test_the_two_editions_link_to_each_other_with_hreflang(site: Path) -> None:
    de, de_html = page(site / "2021-07" / "index.html")
    zh, zh_html = page(site / "2021-07" / "zh" / "index.html")
    both = {
        "de": f"{BASE}/2021-07/",
        "zh": f"{BASE}/2021-07/zh/",
        "x-default": f"{BASE}/2021-07/",
    }
    assert de.alternates() == zh.alternates() == both
    assert (de.lang(), zh.lang()) == ("de", "zh")
    assert f'<link rel="canonical" href="{BASE}/2021-07/zh/">' in zh_html
    # a visible switch: each edition named in its own language, the current one marked
    assert de.switch() == {"zh": "../2021-07/zh/"}
    assert zh.switch() == {"de": "../../2021-07/"}
    assert re.search(r'<strong lang="de" aria-current="page">Deutsch</strong>', de_html)
    assert re.search(r'<strong lang="zh" aria-current="page">简体中文</strong>', zh_html)
    assert ">简体中文</a>" in de_html and ">Deutsch</a>" in zh_html
    assert "本期语言版本" in zh_html and "Diese Ausgabe auf" in de_html
    # the way back to the index from one folder deeper
    assert '<a href="../../" ' in zh_html
    # an issue in one language has no alternates and no switch
    june, june_html = page(site / "2021-06" / "index.html")
    assert june.alternates() == {} and "nl-languages" not in june_html


def test_the_index_lists_each_issue_once_with_its_other_editions(site: Path) -> None:
    index, _ = page(site / "index.html")
    issues = [
        a["href"]
        for t, a in index.tags
        if t == "a" and re.fullmatch(r"\d{4}-\d{2}/", a["href"] or "")
    ]
    assert issues == ["2021-07/", "2021-06/"]
    assert index.switch() == {"zh": "2021-07/zh/"}


def test_the_feed_has_one_entry_per_edition_with_its_language(site: Path) -> None:
    raw = (site / "feed.atom").read_bytes()
    feed = feedparser.parse(raw)
    assert not feed.bozo, feed.bozo_exception
    assert [e.link for e in feed.entries] == [
        f"{BASE}/2021-07/",
        f"{BASE}/2021-07/zh/",
        f"{BASE}/2021-06/",
    ]
    assert [e.title for e in feed.entries] == [
        "ISA-Newsletter Juli 2021",
        "ISA 通讯 2021年7月",
        "ISA-Newsletter Juni 2021",
    ]
    entries = ET.fromstring(raw).findall(f"{ATOM}entry")
    assert [e.get(XML_LANG) for e in entries] == ["de", "zh", "de"]
    assert len({e.id for e in feed.entries}) == 3
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{BASE}/2021-07/zh/</loc>" in sitemap


def test_a_sent_bilingual_campaign_is_served_as_two_linked_pages(web) -> None:
    """The Chinese reader's "view in browser" link opens the Chinese page on the real server."""
    send_bilingual_issue(web)
    web.serve()
    views = {}
    for f in (web.tmp / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(f.read_bytes(), policy=default)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        (view,) = set(re.findall(rf'href="({re.escape(web.url)}/archive/[^"]*)"', html))
        views[str(msg["Content-Language"])] = view
    assert views == {"de": f"{web.url}/archive/2021-07/", "zh": f"{web.url}/archive/2021-07/zh/"}
    with web.client() as client:
        zh = client.get(views["zh"])
        assert zh.status_code == 200
        assert '<html lang="zh"' in zh.text and "德国能源署（dena）的试点项目" in zh.text
        p = Page()
        p.feed(zh.text)
        assert p.alternates() == {
            "de": f"{web.url}/archive/2021-07/",
            "zh": f"{web.url}/archive/2021-07/zh/",
            "x-default": f"{web.url}/archive/2021-07/",
        }
        assert client.get("/archive/" + p.switch()["de"].removeprefix("../../")).status_code == 200
        feed = client.get("/archive/feed.atom").content
    langs = [e.get(XML_LANG) for e in ET.fromstring(feed).findall(f"{ATOM}entry")]
    assert langs == ["de", "zh"]
    assert len(feedparser.parse(feed).entries) == 2
