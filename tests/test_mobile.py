"""The rendered issue in a real headless Chromium at a 375 px phone width."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import render_issue

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium not installed (.ci/run installs it)",
)

PROBE = """<!doctype html><html><body style="margin:0">
<iframe id="f" src="issue.html" style="width:{w}px;height:900px;border:0"></iframe>
<script>
document.getElementById('f').onload = function () {{
  var d = this.contentDocument, w = this.contentWindow;
  var widest = 0;
  d.querySelectorAll('img, table, h1, h2, h3, p').forEach(function (el) {{
    widest = Math.max(widest, el.getBoundingClientRect().right);
  }});
  document.body.setAttribute('data-probe',
    d.documentElement.scrollWidth + ' ' + d.documentElement.clientWidth + ' ' + Math.ceil(widest) +
    ' ' + w.getComputedStyle(d.querySelector('.mj-column-per-100')).width);
}};
</script></body></html>"""


def _chromium(url: str, tmp: Path) -> str:
    assert CHROMIUM, "chromium is required in CI"
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            f"--user-data-dir={tmp / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    return out.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stem", ["2021-07", "2020-10"])
def test_no_horizontal_scrolling_at_375px(stem: str, tmp_path: Path) -> None:
    r = render_issue(
        load_issue(ROOT / "issues" / f"{stem}.yaml"), load_settings(ROOT / "newsletter.toml")
    )
    (tmp_path / "issue.html").write_text(r.html, encoding="utf-8")
    (tmp_path / "probe.html").write_text(PROBE.format(w=375), encoding="utf-8")
    dom = _chromium((tmp_path / "probe.html").as_uri(), tmp_path)
    m = re.search(r'data-probe="(\d+) (\d+) (\d+) ([\d.]+)px"', dom)
    assert m, dom[-2000:]
    scroll_w, client_w, widest, column_w = (float(x) for x in m.groups())
    assert scroll_w <= client_w, f"page scrolls sideways: {scroll_w} > {client_w}"
    assert widest <= client_w
    assert column_w <= client_w  # the single column shrinks to the phone's width
