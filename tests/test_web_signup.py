"""Double opt-in sign-up end to end: the form, the mail at a real SMTP server, the click."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
    assert f"Abonnements verwalten: {manage_url}\r\n" in body
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


def test_the_answer_is_identical_for_new_existing_unsubscribed_and_suppressed(web, smtp) -> None:
    _prepare_states(web)
    use_smtp(web, smtp, signups_per_client_per_hour=1000)
    addresses = ["new@example.org", "existing0@example.com", "left1@example.com",
                 "blocked2@example.com"]  # fmt: skip
    times: dict[str, list[float]] = {a: [] for a in addresses}
    answers = set()
    with web.client() as c:
        page = c.get("/subscribe/news")
        field = csrf_of(page.text)
        for _ in range(8):
            for a in addresses:
                started = time.perf_counter()
                r = c.post("/subscribe/news", data={"csrf": field, "email": a, "language": "en"})
                times[a].append(time.perf_counter() - started)
                answers.add((r.status_code, r.text, tuple(sorted(r.headers.keys()))))
                assert "set-cookie" not in r.headers
                web.live.drain()  # the mail work must not overlap the next measurement
    assert len(answers) == 1
    # The fastest of eight is the cost of the work itself; the rest is this shared
    # machine's scheduling. Looking the address up and mailing in the request would
    # add tens of milliseconds for some addresses and none for others.
    fastest = [min(t) for t in times.values()]
    assert max(fastest) - min(fastest) < 0.015, times
    # what happened behind the identical answers
    got = smtp.received_by()
    assert got.get("existing0@example.com") is None  # already confirmed: nothing to confirm
    assert got["new@example.org"] == 3  # the per-address daily limit
    assert got["left1@example.com"] == 3 and got["blocked2@example.com"] == 3
    with web.db.session() as s:
        assert is_suppressed(s, "blocked2@example.com")  # the form alone lifts nothing


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
        codes = [sign_up(c, f"p{i}@example.org").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


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
