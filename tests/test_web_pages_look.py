"""Every state of every web page as a person sees it: headless Chromium, light and dark,
600 and 375 px wide (tests/page_checks.py). Screenshots stay in the test's tmp folder."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from error_states import error_states
from page_checks import look_everywhere

from newsletter.campaigns import sender, store
from newsletter.config import load_settings
from newsletter.issue.load import load_issue
from newsletter.render import render_issue
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.people import add_subscriber
from newsletter.transports import open_transport

ROOT = Path(__file__).resolve().parents[1]


def _send_july(web) -> None:
    """The July issue sent to subscriber 1, so the archive has a page (and links resolve)."""
    rendered = render_issue(load_issue(ROOT / "issues" / "2021-07.yaml"), web.settings)
    with web.db.session() as s:
        cid = store.create_campaign(s, rendered, "news").id
    sender.run_campaign(web.db, web.settings, cid, open_transport(web.settings))
    for f in (web.tmp / "outbox" / "new").iterdir():
        f.unlink()


def _confirm_link(web, live) -> str:
    with web.client() as c:
        page = c.get("/subscribe/news")
        field = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = c.post("/subscribe/news", data={"csrf": field, "email": "new@example.org"})
        assert r.status_code == 200
    live.drain()
    (mail,) = (web.tmp / "outbox" / "new").iterdir()
    return re.search(r"https?://\S+/confirm/[a-z0-9-]+", mail.read_text("utf-8")).group(0)


def _click(label: str):
    def prepare(page) -> None:
        button = page.locator(f"button:has-text('{label}')")
        if button.count():
            button.first.click()
            page.wait_for_load_state("load")

    return prepare


def _unsubscribe_then_undo(expected: str):
    def prepare(page) -> None:
        _click("Unsubscribe")(page)
        _click("Undo")(page)
        assert expected in page.inner_text("main")

    return prepare


def _fill_and_subscribe(page) -> None:
    page.fill("#email", "reader@example.org")
    _click("Subscribe")(page)


@pytest.mark.timeout(600)
def test_every_page_state_reads_well_in_light_and_dark_at_two_widths(
    web, browser, tmp_path
) -> None:
    isa = load_settings(ROOT / "newsletter.toml").organisation
    web.settings = replace(web.settings, organisation=replace(isa, language="en"))
    web.add(6)
    with web.db.session() as s:  # a single opt-in list: its undo resubscribes at once
        club = create_list(s, "club", "Club", double_opt_in=False).id
        add_subscriber(s, "club@example.org", ["club"], status="confirmed", consent_note="test")
    _send_july(web)
    live = web.serve(signups_per_client_per_hour=3)
    confirm = _confirm_link(web, live)
    t = web.token
    states = {
        "subscribe": ("/subscribe/news", None),
        "subscribe-sent": ("/subscribe/news", _fill_and_subscribe),
        "unsubscribe-ask": (f"/unsubscribe/{t(1)}", None),
        "unsubscribe-done": (f"/unsubscribe/{t(2)}", _click("Unsubscribe")),
        "unsubscribe-mailed": (f"/unsubscribe/{t(3)}", _unsubscribe_then_undo("We have sent")),
        "unsubscribe-undone": (f"/unsubscribe/{t(7, club)}", _unsubscribe_then_undo("Welcome")),
        "manage": (f"/manage/{t(4)}", None),
        "manage-saved": (f"/manage/{t(6)}", _click("Save")),
        "confirm": (confirm.replace(web.url, ""), None),
        "unsubscribe-general": ("/unsubscribe", None),
        "manage-general": ("/manage", None),
        "archive": ("/archive/", None),
        "archive-issue": ("/archive/2021-07/", None),
    }
    # every error page (400, 403, 404, 405, 413, 429); the last one uses up the sign-ups
    states.update({name: (path, prep) for name, (path, prep, _) in error_states(t).items()})
    shots = tmp_path / "screenshots"
    found: list[str] = []
    for name, (path, prepare) in states.items():
        found += look_everywhere(browser, web.url + path, shots, name, prepare=prepare)
    # confirmed last: the click changes the state of the confirm link for good
    found += look_everywhere(browser, confirm, shots, "confirmed", prepare=_click("Confirm"))
    assert found == [], "\n".join(found)
    assert len(list(shots.glob("*.png"))) == (len(states) + 1) * 4


def test_the_unsubscribe_page_title_follows_its_state(web) -> None:
    web.add(1)
    web.serve()
    path = f"/unsubscribe/{web.token(1)}"
    with web.client(headers={"Accept-Language": "de"}) as c:
        ask = c.get(path)
        assert "<title>Abmelden · " in ask.text
        field = re.search(r'name="csrf" value="([^"]+)"', ask.text).group(1)
        done = c.post(path, data={"csrf": field})
        assert "<title>Sie sind abgemeldet · " in done.text, done.text[:400]
        assert "<title>Sie sind abgemeldet · " in c.get(path).text
    assert httpx.get(web.url + "/healthz").text == "ok\n"
