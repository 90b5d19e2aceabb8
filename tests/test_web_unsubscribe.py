"""Unsubscribe, one-click, undo and preferences against a real uvicorn server, with httpx."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select
from web_helpers import csrf_of, submit

from newsletter.subscribers import gdpr
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.people import add_subscriber
from newsletter.subscribers.tables import (
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from newsletter.tokens import bounce_token, confirm_token, token_key, unsubscribe_token


def events(w, action: str = "unsubscribe") -> list[ConsentEvent]:
    with w.db.session() as s:
        return list(s.exec(select(ConsentEvent).where(ConsentEvent.action == action)).all())


def status(w, subscriber_id: int, list_id: int | None = None) -> str:
    with w.db.session() as s:
        row = s.get(Subscription, (subscriber_id, list_id or w.list_id))
        return row.status


def suppressions(w) -> list[Suppression]:
    with w.db.session() as s:
        return list(s.exec(select(Suppression)).all())


def test_get_shows_the_list_and_one_button_and_changes_nothing(web) -> None:
    (address,) = web.add(1)
    web.serve()
    with web.client() as c:
        for _ in range(3):  # a mail scanner, a link preview, the person
            r = c.get(f"/unsubscribe/{web.token(1)}")
            assert r.status_code == 200
    assert "ISA-Newsletter" in r.text
    assert r.text.count("<button") == 1
    assert address not in r.text
    assert status(web, 1) == "confirmed"
    assert events(web) == [] and suppressions(web) == []


def test_page_post_unsubscribes_exactly_once_with_consent_log_and_suppression(web) -> None:
    (address,) = web.add(1)
    web.serve()
    with web.client() as c:
        r = submit(c, f"/unsubscribe/{web.token(1)}")
        assert r.status_code == 200
        assert "You are unsubscribed" in r.text
        again = c.post(f"/unsubscribe/{web.token(1)}", data={"csrf": csrf_of(r.text)})
        assert again.status_code == 200 and "You are unsubscribed" in again.text
    assert status(web, 1) == "unsubscribed"
    (event,) = events(web)
    assert (event.source, event.actor, event.list_slug) == ("web", "subscriber", "news")
    (row,) = suppressions(web)
    assert (row.address, row.reason, row.source) == (address, "unsubscribed", "web")
    with web.db.session() as s:
        data = gdpr.personal_data(s, address)
    assert [e["source"] for e in data["consent_log"] if e["action"] == "unsubscribe"] == ["web"]


def test_page_post_without_csrf_field_or_cookie_is_refused(web) -> None:
    web.add(1)
    web.serve()
    with web.client() as c:
        page = c.get(f"/unsubscribe/{web.token(1)}")
        field = csrf_of(page.text)
        assert c.post(f"/unsubscribe/{web.token(1)}", data={}).status_code == 403
    with web.client() as fresh:  # the field without its cookie
        r = fresh.post(f"/unsubscribe/{web.token(1)}", data={"csrf": field})
        assert r.status_code == 403
        assert "form has expired" in r.text
    assert status(web, 1) == "confirmed"


def test_every_form_post_but_one_click_needs_the_csrf_field(web) -> None:
    """Each form of the site posted by another site (its cookie, no field; a field, no cookie)."""
    web.add(1)
    web.serve()
    token = web.token(1)
    forms = {
        f"/unsubscribe/{token}": {},
        f"/unsubscribe/{token}/undo": {},
        f"/manage/{token}": {"name": "Mallory", "language": "en", "leave_all": "1"},
        "/subscribe/news": {"email": "victim@example.org", "language": "en"},
    }
    with web.client() as c:
        field = csrf_of(c.get("/subscribe/news").text)
        for path, data in forms.items():
            r = c.post(path, data=data)  # the cookie is there, the field is not
            assert r.status_code == 403 and "form has expired" in r.text, path
            wrong = c.post(path, data={**data, "csrf": field[:-2] + "xx"})
            assert wrong.status_code == 403, path
    with web.client() as fresh:
        for path, data in forms.items():
            assert fresh.post(path, data={**data, "csrf": field}).status_code == 403, path
    assert status(web, 1) == "confirmed" and events(web) == [] and suppressions(web) == []
    with web.db.session() as s:
        assert s.get(Subscriber, 1).name != "Mallory"
        assert s.exec(sa.text("SELECT count(*) FROM signup_request")).one()[0] == 0
    web.live.drain()
    assert not (web.tmp / "outbox" / "new").exists() or not any(
        (web.tmp / "outbox" / "new").iterdir()
    )


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_needs_no_cookie_and_unsubscribes_once(web, encoding: str) -> None:
    web.add(1)
    web.serve()
    url = f"{web.url}/unsubscribe/{web.token(1)}"
    for _ in range(2):
        if encoding == "urlencoded":
            r = httpx.post(url, content=b"List-Unsubscribe=One-Click", headers={
                "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        else:
            r = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        assert r.status_code == 200
        assert r.text == "unsubscribed\n"
        assert "set-cookie" not in r.headers
    assert status(web, 1) == "unsubscribed"
    (event,) = events(web)
    assert event.source == "one-click"
    assert [s.source for s in suppressions(web)] == ["one-click"]


def test_a_two_year_old_link_still_unsubscribes(web, monkeypatch) -> None:
    """Unsubscribe links never expire: the token made two years ago, the rows aged with it."""
    web.add(1)
    two_years = timedelta(days=730)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - two_years.total_seconds())
    token = web.token(1)  # as the sender made it then
    monkeypatch.setattr(time, "time", real_time)
    then = datetime.now(UTC) - two_years
    with web.db.session() as s:
        s.execute(sa.update(Subscriber).values(created_at=then))
        s.execute(sa.update(Subscription).values(created_at=then, confirmed_at=then))
    web.serve()
    with web.client() as c:
        assert c.get(f"/unsubscribe/{token}").status_code == 200
        assert c.get(f"/manage/{token}").status_code == 200
    r = httpx.post(f"{web.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert (r.status_code, r.text) == (200, "unsubscribed\n")
    assert status(web, 1) == "unsubscribed"


def test_concurrent_one_clicks_change_things_once(web) -> None:
    import concurrent.futures

    web.add(1)
    web.serve()
    url = f"{web.url}/unsubscribe/{web.token(1)}"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda _: httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code,
                range(16),
            )
        )
    assert codes == [200] * 16
    assert len(events(web)) == 1 and len(suppressions(web)) == 1


def test_leaving_one_of_two_lists_does_not_suppress(web) -> None:
    (address,) = web.add(1)
    with web.db.session() as s:
        other = create_list(s, "events", "Veranstaltungen")
        add_subscriber(s, address, ["events"], status="confirmed", consent_note="test")
        other_id = other.id
    web.serve()
    r = httpx.post(f"{web.url}/unsubscribe/{web.token(1)}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert (status(web, 1), status(web, 1, other_id)) == ("unsubscribed", "confirmed")
    assert suppressions(web) == []


def _bad_tokens(w) -> dict[str, str]:
    key = token_key(w.db.secret)
    good = w.token(1)
    flipped = good[:-1] + ("a" if good[-1] != "a" else "b")
    return {
        "bit-flipped": flipped,
        "truncated": good[:-4],
        "payload changed": "2" + good[1:],
        "bounce token": bounce_token(key, 1),
        "confirm token": confirm_token(key, 1),
        "list the person is not on": unsubscribe_token(key, 1, 999),
        "subscriber that does not exist": unsubscribe_token(key, 999, w.list_id),
        "another installation's key": unsubscribe_token(token_key(b"other"), 1, w.list_id),
        "not a token": "no-such-thing",
        "non-ascii": "1-1-\u212aabc",
    }


def test_bad_tokens_get_the_same_400_that_names_nothing(web) -> None:
    (address,) = web.add(1)
    web.serve()
    bodies = set()
    with web.client() as c:
        for name, token in _bad_tokens(web).items():
            for method, path in [
                ("GET", f"/unsubscribe/{token}"),
                ("GET", f"/manage/{token}"),
                ("GET", f"/confirm/{token}"),
            ]:
                r = c.request(method, path)
                assert r.status_code == 400, (name, path)
                assert "invalid or has expired" in r.text
                for secret in (address, "ISA-Newsletter", "news", token):
                    assert secret not in r.text, (name, secret)
                bodies.add(r.text)
            r = c.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
            assert (r.status_code, r.text) == (400, "invalid link\n")
    assert len(bodies) == 1
    assert status(web, 1) == "confirmed" and suppressions(web) == []


# One request or more per route of the app; the test below fails when a route is added
# without a line here.
ROUTES = [
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/static/style.css"),
    ("GET", "/unsubscribe"),
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}/undo"),
    ("GET", "/manage"),
    ("GET", "/manage/{token}"),
    ("POST", "/manage/{token}"),
    ("GET", "/subscribe/news"),
    ("POST", "/subscribe/news"),
    ("GET", "/confirm/1-abc"),
    ("POST", "/confirm/1-abc"),
    ("GET", "/archive"),
    ("GET", "/archive/"),
    ("GET", "/archive/feed.atom"),
    ("GET", "/archive/2019-01/"),
    ("POST", "/webhooks/ses"),
    ("POST", "/webhooks/postmark"),
    ("POST", "/webhooks/generic"),
    ("GET", "/no/such/page"),
]


def _assert_secure(r: httpx.Response, what: str) -> None:
    h = r.headers
    assert h["referrer-policy"] == "no-referrer", what
    assert h["x-content-type-options"] == "nosniff", what
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script" not in csp, what
    assert "default-src 'none'" in csp, what


def test_security_headers_on_every_route(web) -> None:
    web.add(1)
    live = web.serve()
    app_routes = {route.path for route in live.app.routes}
    covered = {
        route.path
        for route in live.app.routes
        for _, path in ROUTES
        if route.path_regex.match(path.format(token=web.token(1)))
    }
    assert covered == app_routes, f"no request in ROUTES for {app_routes - covered}"
    with web.client() as c:
        for method, path in ROUTES:
            r = c.request(method, path.format(token=web.token(1)))
            _assert_secure(r, f"{method} {path} ({r.status_code})")
            if "{token}" in path or "confirm" in path or path.startswith("/subscribe"):
                assert r.headers["cache-control"] == "no-store", path
            if r.headers.get("set-cookie"):
                assert "<form" in r.text, f"{path} sets a cookie without a form"


def test_a_server_error_carries_the_headers_and_names_nothing(web, monkeypatch) -> None:
    import newsletter.web.signup as signup

    def broken(*args, **kwargs):
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(signup, "get_list", broken)
    web.serve()
    with web.client() as c:
        r = c.get("/subscribe/news?email=someone@example.org")
    assert r.status_code == 500
    _assert_secure(r, "500")
    assert "database" not in r.text and "someone" not in r.text and "news" not in r.text


def test_bodies_over_the_limit_are_refused(web) -> None:
    web.add(1)
    web.serve()
    r = httpx.post(
        f"{web.url}/unsubscribe/{web.token(1)}",
        content=b"List-Unsubscribe=One-Click&x=" + b"a" * 20000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit counts what arrives
        yield b"List-Unsubscribe=One-Click&x="
        for _ in range(40):
            yield b"a" * 1000

    r = httpx.post(
        f"{web.url}/unsubscribe/{web.token(1)}",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert status(web, 1) == "confirmed"


class _Lines(logging.Handler):
    """The access log's lines as the server thread writes them, counted as they come."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.arrived:
            self.lines.append(record.getMessage())
            self.arrived.notify_all()

    def wait_for(self, n: int, timeout: float = 30.0) -> list[str]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.lines) >= n, timeout)
            return list(self.lines)


def test_the_access_log_names_routes_not_tokens_or_addresses(web) -> None:
    (address,) = web.add(1)
    web.serve()
    token = web.token(1)
    # A handler of its own on the logger (not caplog's, on the root): the lines
    # come from the server's thread after each answer went out, and a busy
    # machine may write the last one well after the client has its response.
    logger = logging.getLogger("newsletter.web.access")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with web.client() as c:
            submit(c, f"/unsubscribe/{token}")
            c.get("/manage/" + token)
            c.get(f"/subscribe/news?email={address}")
        handler.wait_for(4)
        time.sleep(0.2)  # room for a line too many to show up
        lines = handler.wait_for(4)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    routes = [line.rsplit(" ", 1)[0] for line in lines]
    assert routes == [
        '"GET /unsubscribe/{token}" 200',
        '"POST /unsubscribe/{token}" 200',
        '"GET /manage/{token}" 200',
        '"GET /subscribe/{list}" 200',
    ], lines
    for line in lines:
        assert token not in line and address not in line and "example" not in line


def test_undo_on_a_single_opt_in_list_resubscribes_and_lifts_the_suppression(web) -> None:
    web.add(1)
    with web.db.session() as s:
        s.execute(sa.update(MailingList).values(double_opt_in=False))
    web.serve()
    with web.client() as c:
        done = submit(c, f"/unsubscribe/{web.token(1)}")
        assert len(suppressions(web)) == 1
        r = c.post(f"/unsubscribe/{web.token(1)}/undo", data={"csrf": csrf_of(done.text)})
    assert r.status_code == 200 and "Welcome back" in r.text
    assert status(web, 1) == "confirmed"
    assert suppressions(web) == []
    (event,) = events(web, "resubscribe")
    assert (event.source, event.detail) == (
        "web",
        "consent: clicked undo on the unsubscribe page (single opt-in list)",
    )


def test_undo_on_a_double_opt_in_list_only_sends_a_confirmation(web) -> None:
    web.add(1)
    live = web.serve()
    with web.client() as c:
        done = submit(c, f"/unsubscribe/{web.token(1)}")
        r = c.post(f"/unsubscribe/{web.token(1)}/undo", data={"csrf": csrf_of(done.text)})
    assert r.status_code == 200 and "We have sent you an email" in r.text
    live.drain()
    assert status(web, 1) == "unsubscribed" and len(suppressions(web)) == 1
    (mail,) = (web.tmp / "outbox" / "new").iterdir()
    assert "/confirm/" in mail.read_text()


def test_preferences_show_the_masked_address_and_only_the_persons_lists(web) -> None:
    (address,) = web.add(1)
    with web.db.session() as s:
        create_list(s, "secret-board", "Vorstand intern")
        create_list(s, "events", "Veranstaltungen")
        add_subscriber(s, address, ["events"], status="confirmed", consent_note="test")
    web.serve()
    with web.client() as c:
        page = c.get(f"/manage/{web.token(1)}")
        assert page.status_code == 200
        assert "u•••@example.com" in page.text and address not in page.text
        assert "Veranstaltungen" in page.text and "ISA-Newsletter" in page.text
        assert "Vorstand" not in page.text and "secret-board" not in page.text
        r = c.post(
            f"/manage/{web.token(1)}",
            data={
                "csrf": csrf_of(page.text),
                "name": "Anna Müller",
                "language": "de",
                "keep": ["events", "secret-board"],
            },
        )
    assert r.status_code == 200
    assert "Ihre Einstellungen sind gespeichert" in r.text  # the new language shows at once
    assert "ISA-Newsletter" not in r.text
    assert status(web, 1) == "unsubscribed"
    with web.db.session() as s:
        data = gdpr.personal_data(s, address)
    assert data["subscriber"]["name"] == "Anna Müller"
    assert {x["list"]: x["status"] for x in data["subscriptions"]} == {
        "news": "unsubscribed",
        "events": "confirmed",
    }
    assert suppressions(web) == []


def test_leave_all_in_preferences_suppresses(web) -> None:
    web.add(1)
    web.serve()
    with web.client() as c:
        r = submit(c, f"/manage/{web.token(1)}", keep="news", leave_all="1")
    assert r.status_code == 200 and "You no longer receive any of our lists" in r.text
    assert [s.source for s in suppressions(web)] == ["web"]


def test_the_page_speaks_the_subscribers_language(web) -> None:
    web.add(1)
    with web.db.session() as s:
        s.execute(sa.update(Subscriber).values(language="zh"))
    web.serve()
    with web.client(headers={"Accept-Language": "de-DE,de;q=0.9"}) as c:
        assert "您要退订" in c.get(f"/unsubscribe/{web.token(1)}").text
        # no subscriber: the browser's language decides
        assert "Um sich abzumelden" in c.get("/unsubscribe").text


@pytest.mark.parametrize("lists", [["news"], ["news", "events"]])
def test_the_token_path_writes_exactly_what_the_library_writes(world, lists) -> None:
    """unsubscribe_by_token's Core statements against people.unsubscribe, row by row."""
    from newsletter.subscribers.optout import unsubscribe_by_token
    from newsletter.subscribers.people import unsubscribe

    a, b = world.add(2)
    with world.db.session() as s:
        if "events" in lists:
            create_list(s, "events", "Veranstaltungen")
            for who in (a, b):
                add_subscriber(s, who, ["events"], status="confirmed", consent_note="test")
    key = token_key(world.db.secret)
    with world.db.session() as s:
        unsubscribe_by_token(s, unsubscribe_token(key, 1, world.list_id), source="one-click")
    with world.db.session() as s:
        unsubscribe(s, 2, None if lists == ["news"] else "news", source="one-click",
                    actor="subscriber")  # fmt: skip

    def rows(subscriber_id: int, address: str):
        with world.db.session() as s:
            events = [
                (e.action, e.actor, e.list_slug, e.subject == address, e.source, e.detail)
                for e in s.exec(
                    select(ConsentEvent)
                    .where(ConsentEvent.subscriber_id == subscriber_id)
                    .where(ConsentEvent.action.in_(["unsubscribe", "suppress"]))  # type: ignore[attr-defined]
                    .order_by(ConsentEvent.id)
                )
            ]
            blocked = [
                (p.address == address, p.reason, p.detail, p.source)
                for p in s.exec(select(Suppression).where(Suppression.address == address))
            ]
            subs = sorted(
                (x.list_id, x.status, x.unsubscribed_at is not None)
                for x in s.exec(
                    select(Subscription).where(Subscription.subscriber_id == subscriber_id)
                )
            )
        return events, blocked, subs

    assert rows(1, a) == rows(2, b)
    events, blocked, _ = rows(1, a)
    assert [e[0] for e in events] == (
        ["suppress", "unsubscribe"] if lists == ["news"] else ["unsubscribe"]
    )
    assert len(blocked) == (1 if lists == ["news"] else 0)


def test_head_answers_like_get_and_never_changes_anything(web) -> None:
    """HEAD with a one-click body (or a form with its CSRF field) is a GET without the body."""
    web.add(1)
    web.serve()
    path = f"/unsubscribe/{web.token(1)}"
    with web.client() as c:
        got = c.get(path)
        field = csrf_of(got.text)
        for body in ({"List-Unsubscribe": "One-Click"}, {"csrf": field}):
            r = c.request("HEAD", path, data=body)
            assert (r.status_code, r.content) == (200, b"")
            assert r.headers["content-type"] == got.headers["content-type"]
            assert r.headers["content-security-policy"] == got.headers["content-security-policy"]
        r = c.request("HEAD", f"{path}/undo", data={"csrf": field})
        assert r.status_code == 405 and r.content == b""
        r = c.request("HEAD", "/subscribe/news", data={"csrf": field, "email": "a@example.org"})
        assert (r.status_code, r.content) == (200, b"")
    assert status(web, 1) == "confirmed"
    assert events(web) == [] and suppressions(web) == []
    with web.db.session() as s:
        assert s.exec(sa.text("SELECT count(*) FROM signup_request")).one()[0] == 0


def test_only_the_exact_one_click_body_skips_the_csrf_check(web) -> None:
    web.add(1)
    web.serve()
    url = f"{web.url}/unsubscribe/{web.token(1)}"
    for body in (
        {"List-Unsubscribe": "Yes"},
        {"List-Unsubscribe": ""},
        {"List-Unsubscribe": "one-click"},
        {"List-Unsubscribe": ["One-Click", "One-Click"]},
        {"List-Unsubscribe": "One-Click", "leave_all": "1"},
    ):
        r = httpx.post(url, data=body)
        assert r.status_code == 403 and "form has expired" in r.text, body
    assert status(web, 1) == "confirmed" and events(web) == [] and suppressions(web) == []


def test_a_csrf_cookie_of_non_ascii_letters_is_refused_not_a_server_error(web) -> None:
    web.add(1)
    web.serve()
    bad = "ä" * 32  # letters, lower case, 32 of them: what the old shape check let through
    for cookie in (bad, "ß" * 32, "A" * 32, "g" * 32, "0" * 31):
        raw = f"newsletter_csrf={cookie}".encode("latin-1")  # as Starlette decodes it
        with web.client() as c:
            page = c.get("/subscribe/news", headers={"Cookie": raw})
            assert page.status_code == 200, cookie  # a fresh nonce, not the bad one
            assert f"newsletter_csrf={cookie}" not in page.headers.get("set-cookie", "")
            r = c.post(
                f"/unsubscribe/{web.token(1)}",
                data={"csrf": csrf_of(page.text)},
                headers={"Cookie": raw},
            )
            assert r.status_code == 403 and "form has expired" in r.text, cookie
    assert status(web, 1) == "confirmed" and events(web) == []


def test_a_field_of_one_session_with_the_cookie_of_another_is_refused(web) -> None:
    web.add(1)
    web.serve()
    path = f"/unsubscribe/{web.token(1)}"
    with web.client() as a, web.client() as b:
        field_a = csrf_of(a.get(path).text)
        field_b = csrf_of(b.get(path).text)
        assert a.cookies["newsletter_csrf"] != b.cookies["newsletter_csrf"]
        r = b.post(path, data={"csrf": field_a})  # B's cookie, A's field
        assert r.status_code == 403 and "form has expired" in r.text
        assert status(web, 1) == "confirmed" and events(web) == []
        assert b.post(path, data={"csrf": field_b}).status_code == 200  # its own field works
    assert status(web, 1) == "unsubscribed"


def test_over_https_the_csrf_cookie_is_a_host_cookie(web) -> None:
    """``__Host-`` with Secure, Path=/ and no Domain; a plain-named cookie (which a sibling
    subdomain could plant) is ignored."""
    web.add(1)
    https = replace(web.settings.delivery, base_url="https://newsletter.example.org")
    web.settings = replace(web.settings, delivery=https)
    live = web.serve()
    path = f"/unsubscribe/{web.token(1)}"
    with httpx.Client(base_url=live.url, timeout=10) as c:
        page = c.get(path)
        set_cookie = page.headers["set-cookie"]
        assert set_cookie.startswith("__Host-newsletter_csrf="), set_cookie
        attributes = [a.strip().lower() for a in set_cookie.split(";")[1:]]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(a.startswith("domain") for a in attributes)
        nonce = set_cookie.split(";")[0].partition("=")[2]
        field = csrf_of(page.text)
        # httpx keeps Secure cookies off plain http: the browser's https request, by hand
        planted = c.post(path, data={"csrf": field}, headers={"Cookie": f"newsletter_csrf={nonce}"})
        assert planted.status_code == 403
        assert status(web, 1) == "confirmed"
        r = c.post(
            path, data={"csrf": field}, headers={"Cookie": f"__Host-newsletter_csrf={nonce}"}
        )
        assert r.status_code == 200
    assert status(web, 1) == "unsubscribed"
