"""The time zone select of the sign-up form and the manage page, against a real server.

Zone names come from CLDR (Babel) in the page's language; what is posted
reaches the subscriber once they confirm, and the manage page changes or
clears it. No JavaScript: a plain ``<select>``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import sqlalchemy as sa
from smtp_server import RecordingServer
from web_helpers import csrf_of, submit

from newsletter.subscribers import gdpr
from newsletter.subscribers.tables import Subscriber

CONFIRM = re.compile(r"https?://\S+/confirm/[a-z0-9-]+")


@pytest.fixture
def smtp():
    with RecordingServer() as srv:
        yield srv


def zone_of(w, email: str) -> str | None:
    with w.db.session() as s:
        return s.execute(sa.select(Subscriber.timezone).where(Subscriber.email == email)).scalar()


def test_the_sign_up_form_offers_zones_by_name_and_the_click_stores_the_choice(web, smtp) -> None:
    web.configure(transport="smtp")
    web.settings = replace(web.settings, smtp=replace(web.settings.smtp, port=smtp.port))
    web.serve()
    with web.client(headers={"Accept-Language": "zh"}) as c:
        page = c.get("/subscribe/news")
        assert '<option value="Asia/Shanghai">中国 – 上海</option>' in page.text
        assert '<option value="" selected>未填写</option>' in page.text
        assert "<script" not in page.text
    with web.client(headers={"Accept-Language": "de"}) as c:
        page = c.get("/subscribe/news")
        assert '<option value="Europe/Berlin">Deutschland – Berlin</option>' in page.text
        r = c.post(
            "/subscribe/news",
            data={
                "csrf": csrf_of(page.text),
                "email": "li@example.org",
                "name": "",
                "language": "zh",
                "timezone": "Asia/Shanghai",
            },
        )
        assert r.status_code == 200
        web.live.drain()
        (mail,) = smtp.messages
        (link,) = set(CONFIRM.findall(mail.message.get_body(("plain",)).get_content()))
        button = c.get(link)
        assert zone_of(web, "li@example.org") is None  # nothing before the click
        c.post(link, data={"csrf": csrf_of(button.text)})
    assert zone_of(web, "li@example.org") == "Asia/Shanghai"
    with web.db.session() as s:  # and the person's data export (GDPR Art. 15) says so
        data = gdpr.personal_data(s, "li@example.org")
    assert data["subscriber"]["timezone"] == "Asia/Shanghai"
    assert [x["timezone"] for x in data["signups"]] == ["Asia/Shanghai"]


def test_a_zone_the_select_does_not_offer_is_ignored(web, smtp) -> None:
    web.configure(transport="smtp")
    web.settings = replace(web.settings, smtp=replace(web.settings.smtp, port=smtp.port))
    web.serve()
    with web.client() as c:
        r = submit(
            c, "/subscribe/news", email="x@example.org", name="", language="en",
            timezone="Mars/Olympus",
        )  # fmt: skip
        assert r.status_code == 200
        web.live.drain()
        (mail,) = smtp.messages
        (link,) = set(CONFIRM.findall(mail.message.get_body(("plain",)).get_content()))
        button = c.get(link)
        c.post(link, data={"csrf": csrf_of(button.text)})
    assert zone_of(web, "x@example.org") is None


def test_the_manage_page_shows_changes_and_clears_the_zone(web) -> None:
    (address,) = web.add(1)
    with web.db.session() as s:
        s.execute(sa.update(Subscriber).values(timezone="Asia/Shanghai", language="en"))
    web.serve()
    path = f"/manage/{web.token(1)}"
    with web.client() as c:
        page = c.get(path)
        assert '<option value="Asia/Shanghai" selected>China – Shanghai</option>' in page.text
        r = submit(c, path, name="", language="en", keep="news", timezone="America/New_York")
        assert r.status_code == 200
        assert '<option value="America/New_York" selected>' in r.text
        assert zone_of(web, address) == "America/New_York"
        submit(c, path, name="", language="en", keep="news", timezone="")
    assert zone_of(web, address) is None
