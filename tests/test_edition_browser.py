"""The Chinese edition in a real headless Chromium (Debian's, via Playwright) at 600 and 375 px.

The README's pictures of it come from ``newsletter screenshot issues/2021-07.zh.yaml -o
docs/img``; this checks what they show: it fits, and it is set as Chinese.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from edition_helpers import ISA_CONFIG, ISSUES

from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import for_web, render_issue

# `browser` is browser_helpers' (through conftest): Debian's Chromium, skipped only outside CI.


@pytest.mark.timeout(120)
@pytest.mark.parametrize("width", [600, 375])
def test_the_chinese_edition_fits_and_is_set_as_chinese(
    browser, tmp_path: Path, width: int
) -> None:
    settings = load_settings(ISA_CONFIG)
    rendered = for_web(render_issue(load_issue(ISSUES / "2021-07.zh.yaml"), settings), settings)
    page_file = tmp_path / "2021-07.zh.html"
    page_file.write_text(rendered.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN")
    page.route(
        "**/*",
        lambda route: (
            route.abort() if not route.request.url.startswith("file:") else route.continue_()
        ),
    )
    page.goto(page_file.as_uri())
    assert page.evaluate("document.documentElement.lang") == "zh"
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"wider than a {width} px screen: {scroll} px"
    title = page.locator("h2", has_text="德国能源署（dena）的试点项目")
    assert title.is_visible()
    font = title.evaluate("e => getComputedStyle(e).fontFamily")
    assert font.startswith('"PingFang SC"'), font
    # a Chinese title wraps inside the column instead of running past it
    box = title.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    page.close()
