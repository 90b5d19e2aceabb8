"""Every page of the served archive keeps its styles in <head>, and the bar still goes dark.

The bar back to the index used to bring its dark-mode ``<style>`` into ``<body>``
(invalid HTML, and a validator's first complaint about every issue page).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from edition_helpers import send_bilingual_issue

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class Placement(HTMLParser):
    """Where each ``<style>`` and ``<link rel=stylesheet>`` of a page opens: head or body."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.styles: list[tuple[str, str]] = []  # (tag, "head" / "body")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style" or (tag == "link" and dict(attrs).get("rel") == "stylesheet"):
            where = "body" if "body" in self.open else "head" if "head" in self.open else "?"
            self.styles.append((tag, where))
        if tag not in ("meta", "link", "br", "img", "hr", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]


def _serve_bilingual_issue(web):
    """The ISA's July issue sent to a German and a Chinese reader: two pages and the index."""
    send_bilingual_issue(web)
    return web.serve()


def test_every_archive_page_has_all_its_styles_in_head(web) -> None:
    _serve_bilingual_issue(web)
    with web.client() as client:
        sitemap = ET.fromstring(client.get("/archive/sitemap.xml").content)
        urls = [loc.text or "" for loc in sitemap.iter(f"{SITEMAP}loc")]
        assert sorted(u.removeprefix(web.url) for u in urls) == [
            "/archive/",
            "/archive/2021-07/",
            "/archive/2021-07/zh/",
        ]
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, url
            p = Placement()
            p.feed(r.text)
            assert p.styles, f"{url}: no style at all"
            assert [s for s in p.styles if s[1] != "head"] == [], url


def test_the_archive_bar_still_turns_dark_in_dark_mode(web, browser) -> None:
    _serve_bilingual_issue(web)
    context = browser.new_context(viewport={"width": 600, "height": 800})
    try:
        page = context.new_page()
        page.goto(web.url + "/archive/2021-07/zh/")
        bar = page.locator(".nl-archive-bar")
        colours = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
        link = "e => getComputedStyle(e.querySelector('a')).color"
        page.emulate_media(color_scheme="light")
        light = bar.evaluate(colours)
        page.emulate_media(color_scheme="dark")
        assert bar.evaluate(colours) == ["rgb(27, 31, 36)", "rgb(232, 232, 232)"], light
        assert bar.evaluate(link) == "rgb(138, 180, 248)"
        assert light[0] != "rgb(27, 31, 36)"
        # the bar's rules came from <head>, and the bar itself is still the body's first element
        assert page.evaluate("document.body.querySelectorAll('style').length") == 0
        assert page.evaluate("document.head.querySelectorAll('style').length") > 0
        assert "nl-archive-bar" in page.evaluate("document.body.firstElementChild.className")
    finally:
        context.close()
