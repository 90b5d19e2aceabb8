"""Double opt-in sign-up end to end: the form, the mail at a real SMTP server, the click."""

from __future__ import annotations

import re
import statistics
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from smtp_server import RecordingServer
from sqlmodel import select
from web_helpers import csrf_of

from newsletter.campaigns import store
from newsletter.campaigns.tables import Delivery
from newsletter.subscribers import gdpr
from newsletter.subscribers.people import recipients, unsubscribe
from newsletter.subscribers.suppressions import is_suppressed, suppress
from newsletter.subscribers.tables import ConsentEvent, MailingList, Reason, Signup

CONFIRM = re.compile(r"https?://\S+/confirm/[a-z0-9-]+")


@pytest.fixture
def smtp():
    with RecordingServer() as srv:
        yield srv


def use_smtp(w, srv, **web_settings) -> None:
    w.configure(transport="smtp")
    w.settings = replace(w.settings, smtp=replace(w.settings.smtp, port=srv.port))
    w.serve(**web_settings)


def sign_up(c, email: str, **fields: str):
    page = c.get("/subscribe/news")
    assert page.status_code == 200
    return c.post(
        "/subscribe/news",
        data={"csrf": csrf_of(page.text), "email": email, "name": "", "language": "de", **fields},
    )


def text_of(received) -> str:
    msg = received.message
    return msg.get_body(("plain",)).get_content()


def deliveries(w, kind: str) -> list[Delivery]:
    with w.db.session() as s:
        return list(s.exec(select(Delivery).where(Delivery.kind == kind)).all())


def test_sign_up_confirm_welcome_and_the_next_campaign(web, smtp, tmp_path) -> None:
    (tmp_path / "welcome").mkdir()
    (tmp_path / "welcome" / "news.yaml").write_text(
        "subject: Willkommen beim ISA-Newsletter\nparagraphs:\n  - Schön, dass Sie dabei sind.\n",
        encoding="utf-8",
    )
    use_smtp(web, smtp, welcome_dir=str(tmp_path / "welcome"))
    with web.client() as c:
        r = sign_up(c, "neu@example.org", name="Neue Leserin")
        assert r.status_code == 200 and "Vielen Dank!" in r.text
        web.live.drain()
        (mail,) = smtp.messages
        assert mail.rcpt == "neu@example.org"
        msg = mail.message
        assert msg["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung: ISA-Newsletter"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert (
            "Neue Leserin" not in mail.data.decode()
        )  # a stranger's words never reach the mailbox
        (link,) = set(CONFIRM.findall(text_of(mail)))
        assert link.startswith(web.url)
        with web.db.session() as s:
            assert list(recipients(s, "news")) == []  # nothing until the click
        button = c.get(link)
        assert button.status_code == 200 and "Anmeldung bestätigen" in button.text
        assert button.headers["cache-control"] == "no-store"
        with web.db.session() as s:
            assert list(recipients(s, "news")) == []  # GET confirms nothing
        done = c.post(link, data={"csrf": csrf_of(button.text)})
        assert done.status_code == 200 and "Anmeldung bestätigt" in done.text
        again = c.post(link, data={"csrf": csrf_of(button.text)})
        assert again.status_code == 200 and "Anmeldung bestätigt" in again.text
    web.live.drain()
    assert len(smtp.messages) == 2
    welcome = smtp.messages[1].message
    assert welcome["Subject"] == "Willkommen beim ISA-Newsletter"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = welcome.get_body(("plain",)).get_content()
    assert "Hallo Neue Leserin," in body and "Schön, dass Sie dabei sind." in body
    (unsubscribe_url,) = re.findall(r"<(https?://[^>]+)>", welcome["List-Unsubscribe"])
    manage_url = unsubscribe_url.replace("/unsubscribe/", "/manage/")
    assert f"Abonnements verwalten:\r\n{manage_url}\r\n" in body
    with web.client() as c:
        assert "Ihre Abonnements" in c.get(manage_url).text
    assert [d.status for d in deliveries(web, "confirmation")] == ["sent"]
    assert [d.status for d in deliveries(web, "welcome")] == ["sent"]
    assert deliveries(web, "confirmation")[0].campaign_id is None
    with web.db.session() as s:
        assert [p.email for p in recipients(s, "news")] == ["neu@example.org"]
        campaign = store.create_campaign(s, _Issue(), "news")
        assert campaign.recipients == 1
        data = gdpr.personal_data(s, "neu@example.org")
    assert [d["kind"] for d in data["deliveries"]] == ["confirmation", "welcome", "campaign"]
    (confirm_event,) = [e for e in data["consent_log"] if e["action"] == "confirm"]
    assert confirm_event["source"] == "web"
    assert confirm_event["detail"].startswith("consent: double opt-in: clicked the confirmation")


class _Issue:
    subject, html, text, slug, language = "S", "<p>x</p>", "x", "2026-12", "de"


def _prepare_states(w) -> None:
    """existing@ is confirmed, left@ unsubscribed, blocked@ suppressed."""
    for prefix in ("existing", "left", "blocked"):
        w.add(1, prefix=prefix)
    with w.db.session() as s:
        unsubscribe(s, "left1@example.com", "news")
        suppress(s, "blocked2@example.com", Reason.COMPLAINT)


ADDRESSES = ["new@example.org", "existing0@example.com", "left1@example.com",
             "blocked2@example.com"]  # fmt: skip


def test_the_answer_is_identical_for_new_existing_unsubscribed_and_suppressed(web, smtp) -> None:
    _prepare_states(web)
    use_smtp(web, smtp, signups_per_client_per_hour=1000)
    answers = set()
    with web.client() as c:
        field = csrf_of(c.get("/subscribe/news").text)
        for _ in range(3):
            for a in ADDRESSES:
                r = c.post("/subscribe/news", data={"csrf": field, "email": a, "language": "en"})
                answers.add((r.status_code, r.text, tuple(sorted(r.headers.keys()))))
                assert "set-cookie" not in r.headers
    assert len(answers) == 1
    web.live.drain()
    # what happened behind the identical answers
    got = smtp.received_by()
    assert got.get("existing0@example.com") is None  # already confirmed: nothing to confirm
    assert got["new@example.org"] == 3  # the per-address daily limit
    assert got["left1@example.com"] == 3 and got["blocked2@example.com"] == 3
    with web.db.session() as s:
        assert is_suppressed(s, "blocked2@example.com")  # the form alone lifts nothing


def test_the_request_does_the_same_database_work_for_every_address(web, smtp) -> None:
    """The design behind the equal time: the request runs the same statements, whoever posts.

    Recorded on every thread but the outbox's (whose durations no client sees):
    the statements' text and the parameters that are not the address's own
    (its text, its hash, the time), so a lookup of the address added to the
    request, or a branch on what it finds, fails here on any machine.
    """
    _prepare_states(web)
    use_smtp(web, smtp, signups_per_client_per_hour=1000)
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if threading.current_thread().name != "newsletter-outbox":
            seen.append((statement, _shape(parameters)))

    statements: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    with web.client() as c:
        field = csrf_of(c.get("/subscribe/news").text)
        sa.event.listen(web.db.engine, "before_cursor_execute", record)
        try:
            for a in ADDRESSES:
                web.live.drain()
                seen.clear()
                r = c.post("/subscribe/news", data={"csrf": field, "email": a, "language": "en"})
                assert r.status_code == 200
                statements[a] = list(seen)
        finally:
            sa.event.remove(web.db.engine, "before_cursor_execute", record)
    web.live.drain()
    first = statements[ADDRESSES[0]]
    for a in ADDRESSES[1:]:
        assert statements[a] == first, a
    writes = [sql for sql, _ in first if not sql.lstrip().upper().startswith("SELECT")]
    assert len(writes) == 1 and "INSERT INTO signup_request" in writes[0], first
    read = {t for sql, _ in first for t in re.findall(r"\b(?:FROM|JOIN) (\w+)", sql)}
    assert read <= {"mailing_list"}, first  # the list, never what is known of the address
    assert len(smtp.received_by()) == 3  # the outbox did decide them: the mails went out


def _shape(parameters: Any) -> tuple[Any, ...]:
    """A statement's parameters with the address-dependent values (text, hash, time) blanked."""
    values = parameters.values() if isinstance(parameters, dict) else parameters or ()
    return tuple(type(v).__name__ if isinstance(v, str | bytes | datetime) else v for v in values)


def test_the_answer_takes_the_same_time_for_every_address(web, smtp) -> None:
    """Measured, not only by design: requests in rounds, each address against a new one.

    The rounds interleave the addresses (in a turning order) so a burst of load on
    this shared machine hits all of them alike; each round's difference to the new
    address cancels what the round shares, and the median of the differences
    ignores the rounds a burst still split. A lookup or a mail sent in the request
    costs one address milliseconds and another nothing: a median difference
    above 10 ms, or above twice the differences' own spread on a busy machine, fails.
    """
    _prepare_states(web)
    use_smtp(web, smtp, signups_per_client_per_hour=1000)
    rounds = 24
    times: dict[str, list[float]] = {a: [] for a in ADDRESSES}
    after: dict[str, list[float]] = {a: [] for a in ADDRESSES}
    path = f"/unsubscribe/{web.token(1)}"
    with web.client() as c, web.client() as other:
        field = csrf_of(c.get("/subscribe/news").text)
        other.get(path)  # its connection open, as the prober's would be
        for i in range(rounds):
            for a in ADDRESSES[i % 4 :] + ADDRESSES[: i % 4]:
                # a new address each round: each one's confirmation mail is built (the
                # daily limit stops new@'s after three), while existing0@ never gets one
                email = f"new{i}@example.org" if a == ADDRESSES[0] else a
                web.live.drain()  # the outbox's work must not overlap a measurement
                started = time.perf_counter()
                r = c.post(
                    "/subscribe/news", data={"csrf": field, "email": email, "language": "en"}
                )
                times[a].append(time.perf_counter() - started)
                assert r.status_code == 200
                # The request right after: while the outbox decides this sign-up and
                # builds its mail (or has none to build), a database-backed page.
                started = time.perf_counter()
                assert other.get(path).status_code == 200
                after[a].append(time.perf_counter() - started)
    web.live.drain()
    for measured in (times, after):
        new = measured[ADDRESSES[0]]
        for a in ADDRESSES[1:]:
            diffs = [t - n for t, n in zip(measured[a], new, strict=True)]
            middle = statistics.median(diffs)
            spread = statistics.median(abs(d - middle) for d in diffs)
            assert abs(middle) < max(0.010, 2 * spread), (a, middle, spread, measured)


def test_no_request_waits_while_a_sign_up_mail_is_built(web, smtp, monkeypatch) -> None:
    """The outbox composes a mail outside the database's turn that requests wait in.

    The composing is made slow on purpose (a big theme, a slow disk): before,
    it ran inside the turn and the next request of anyone waited for it, which
    is how the time of the request after a sign-up told that a mail was made."""
    from newsletter.web import mails

    web.add(1)
    composing = threading.Event()
    original = mails.confirmation

    def slow_confirmation(*args: Any, **kwargs: Any) -> Any:
        composing.set()
        time.sleep(1.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(mails, "confirmation", slow_confirmation)
    use_smtp(web, smtp)
    path = f"/unsubscribe/{web.token(1)}"
    with web.client() as c:
        assert c.get(path).status_code == 200
        assert sign_up(c, "new@example.org").status_code == 200
        assert composing.wait(10), "the outbox did not start composing"
        started = time.perf_counter()
        assert c.get(path).status_code == 200
        assert sign_up(c, "other@example.org").status_code == 200
        took = time.perf_counter() - started
    assert took < 0.5, took
    web.live.drain()
    assert set(smtp.received_by()) == {"new@example.org", "other@example.org"}


def test_the_per_address_limit_counts_a_day(web, smtp) -> None:
    use_smtp(web, smtp, confirmations_per_address_per_day=2)
    with web.client() as c:
        for _ in range(4):
            assert sign_up(c, "Target@Example.org").status_code == 200
        web.live.drain()
        assert len(smtp.messages) == 2
        with web.db.session() as s:  # a day later the limit starts again
            s.execute(sa.update(Signup).values(created_at=datetime.now(UTC) - timedelta(days=2)))
        sign_up(c, "target@example.org")
        web.live.drain()
    assert len(smtp.messages) == 3
    assert len(deliveries(web, "confirmation")) == 3


def test_the_per_client_limit_answers_429(web, smtp) -> None:
    use_smtp(web, smtp, signups_per_client_per_hour=3)
    with web.client() as c:
        answers = [sign_up(c, f"p{i}@example.org") for i in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    # RFC 6585: when to come back, the hour after the first of the three posts
    waits = [r.headers.get("retry-after") for r in answers]
    assert waits[:3] == [None, None, None]
    assert all(w is not None and 3590 <= int(w) <= 3600 for w in waits[3:]), waits


def test_a_suppressed_address_comes_back_only_by_its_own_click(web, smtp) -> None:
    _prepare_states(web)
    use_smtp(web, smtp)
    with web.client() as c:
        sign_up(c, "blocked2@example.com")
        web.live.drain()
        with web.db.session() as s:
            assert is_suppressed(s, "blocked2@example.com")
        (link,) = set(CONFIRM.findall(text_of(smtp.messages[0])))
        button = c.get(link)
        c.post(link, data={"csrf": csrf_of(button.text)})
    with web.db.session() as s:
        assert not is_suppressed(s, "blocked2@example.com")
        assert "blocked2@example.com" in [p.email for p in recipients(s, "news")]
        actions = [
            (e.action, e.source)
            for e in s.exec(select(ConsentEvent).where(ConsentEvent.subscriber_id == 3))
        ]
    assert ("unsuppress", "web") in actions and ("confirm", "web") in actions


def test_an_administrators_block_gets_no_mail(web, smtp) -> None:
    with web.db.session() as s:
        suppress(s, "blocked@example.org", Reason.MANUAL)
    use_smtp(web, smtp)
    with web.client() as c:
        assert sign_up(c, "blocked@example.org").status_code == 200
    web.live.drain()
    assert smtp.messages == []


def test_confirmation_links_expire(web, smtp) -> None:
    use_smtp(web, smtp, confirm_days=7)
    with web.client() as c:
        sign_up(c, "late@example.org")
        web.live.drain()
        (link,) = set(CONFIRM.findall(text_of(smtp.messages[0])))
        with web.db.session() as s:
            s.execute(sa.update(Signup).values(created_at=datetime.now(UTC) - timedelta(days=8)))
        r = c.get(link)
        assert r.status_code == 400 and "ungültig oder abgelaufen" not in r.text
        assert "invalid or has expired" in r.text
    with web.db.session() as s:
        assert list(recipients(s, "news")) == []


def test_the_confirm_button_needs_the_csrf_field(web, smtp) -> None:
    use_smtp(web, smtp)
    with web.client() as c:
        sign_up(c, "careful@example.org")
        web.live.drain()
        (link,) = set(CONFIRM.findall(text_of(smtp.messages[0])))
        field = csrf_of(c.get(link).text)
        assert c.post(link, data={}).status_code == 403  # a scanner or another site
        with web.client() as other:
            assert other.post(link, data={"csrf": field}).status_code == 403  # no cookie
        with web.db.session() as s:
            assert list(recipients(s, "news")) == []
        assert c.post(link, data={"csrf": field}).status_code == 200
    with web.db.session() as s:
        assert [p.email for p in recipients(s, "news")] == ["careful@example.org"]


def test_the_honeypot_and_bad_input(web, smtp) -> None:
    use_smtp(web, smtp)
    with web.client() as c:
        bot = sign_up(c, "bot@example.org", website="http://spam.example.net")
        person = sign_up(c, "person@example.org")
        assert (bot.status_code, bot.text) == (person.status_code, person.text)
        bad = sign_up(c, "not an address")
        assert bad.status_code == 400 and "gültige E-Mail-Adresse" in bad.text
        assert c.get("/subscribe/no-such-list").status_code == 404
        no_csrf = c.post("/subscribe/news", data={"email": "x@example.org"})
        assert no_csrf.status_code == 403
    web.live.drain()
    assert [m.rcpt for m in smtp.messages] == ["person@example.org"]


def test_a_single_opt_in_list_subscribes_at_once(web, smtp) -> None:
    with web.db.session() as s:
        s.execute(sa.update(MailingList).values(double_opt_in=False))
    use_smtp(web, smtp)
    with web.client() as c:
        sign_up(c, "quick@example.org")
    web.live.drain()
    assert smtp.messages == []  # no welcome file for this list
    with web.db.session() as s:
        assert [p.email for p in recipients(s, "news")] == ["quick@example.org"]


def test_forget_in_a_fresh_process_erases_sign_ups_and_their_mails(web, smtp) -> None:
    import os
    import subprocess
    import sys

    use_smtp(web, smtp)
    with web.client() as c:
        sign_up(c, "gone@example.org")
    web.live.drain()
    web.live.stop()
    web.live = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    out = subprocess.run(
        [sys.executable, "-m", "newsletter", "--database", web.settings.database_url,
         "subscribers", "forget", "gone@example.org", "--yes"],
        capture_output=True, text=True, env=env, cwd=web.tmp,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "  signups: 1 row(s) scrubbed\n  deliveries: 1 row(s) scrubbed\n" in out.stdout
    with web.db.session() as s:
        assert s.exec(select(Signup)).all() == []
        (d,) = s.exec(select(Delivery)).all()
    assert (d.kind, d.address, d.status) == ("confirmation", None, "sent")
    if web.db.sqlite_path is not None:
        assert b"gone@example.org" not in web.db.sqlite_path.read_bytes()
