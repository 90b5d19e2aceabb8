"""A person in a real browser: headless Chromium (Debian's) driven by Playwright.

Playwright is launched with ``executable_path`` on the system Chromium; it never
downloads a browser (``playwright install`` fails here and is never run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from newsletter.campaigns import sender, store
from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import render_issue
from newsletter.subscribers.tables import Subscription
from newsletter.transports import open_transport

ROOT = Path(__file__).resolve().parents[1]
# `browser` is browser_helpers' (through conftest): Debian's Chromium, skipped only outside CI.


def _delivered_unsubscribe_link(web) -> str:
    """Send the July issue to one German subscriber; the link in the delivered file."""
    from dataclasses import replace

    web.add(1)
    isa = load_settings(ROOT / "newsletter.toml").organisation
    web.settings = replace(web.settings, organisation=isa)
    rendered = render_issue(load_issue(ROOT / "issues" / "2021-07.yaml"), web.settings)
    with web.db.session() as s:
        c = store.create_campaign(s, rendered, "news")
        cid = c.id
    sender.run_campaign(web.db, web.settings, cid, open_transport(web.settings))
    (message,) = (web.tmp / "outbox" / "new").iterdir()
    raw = message.read_text("utf-8")
    (url,) = re.findall(r"List-Unsubscribe: <([^>]+)>", raw)
    return url


@pytest.mark.timeout(180)
def test_unsubscribe_in_the_browser_shows_the_german_confirmation(web, browser) -> None:
    url = _delivered_unsubscribe_link(web)
    web.serve()
    page = browser.new_page(locale="de-DE", viewport={"width": 720, "height": 480})
    page.goto(url)
    assert page.title() == "Abmelden · Chinesisch-Deutsche Industriestädteallianz (ISA)"
    assert "Möchten Sie sich von „ISA-Newsletter“ abmelden?" in page.inner_text("main")
    shot = os.environ.get("NEWSLETTER_SCREENSHOT")
    if shot:  # docs/img/unsubscribe.png is made this way
        page.screenshot(path=shot, full_page=True)
    page.click("button:has-text('Abmelden')")
    page.wait_for_selector("text=Sie sind abgemeldet")
    assert "Sie erhalten keine E-Mails von „ISA-Newsletter“ mehr." in page.inner_text("main")
    assert page.is_visible("button:has-text('Rückgängig machen')")
    with web.db.session() as s:
        assert s.get(Subscription, (1, web.list_id)).status == "unsubscribed"
    # the stylesheet loaded under the CSP (no inline styles on our pages)
    colour = page.eval_on_selector(".masthead", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(163, 17, 28)"


@pytest.mark.timeout(180)
def test_sign_up_form_in_the_browser(web, browser) -> None:
    live = web.serve()
    page = browser.new_page(locale="en-GB")
    page.goto(f"{web.url}/subscribe/news")
    box = page.locator("#website").bounding_box()
    assert box is not None and box["x"] + box["width"] < 0  # the honeypot is off-screen
    page.fill("#email", "reader@example.org")
    page.fill("#name", "Reader")
    page.select_option("#language", "en")
    page.click("button:has-text('Subscribe')")
    page.wait_for_selector("text=Please check your inbox")
    live.drain()
    (mail,) = (web.tmp / "outbox" / "new").iterdir()
    text = mail.read_text("utf-8")
    assert "Please confirm your subscription: ISA-Newsletter" in text
    link = re.search(r"http://127\.0\.0\.1:\d+/confirm/[a-z0-9-]+", text.replace("=\n", ""))
    assert link
    page.goto(link.group(0))
    page.click("button:has-text('Confirm subscription')")
    page.wait_for_selector("text=Subscription confirmed")
    with web.db.session() as s:
        assert s.get(Subscription, (1, web.list_id)).status == "confirmed"
