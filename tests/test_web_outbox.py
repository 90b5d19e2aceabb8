"""Confirmation and welcome mails are never lost: they wait in the database, survive a
restart of the server, are retried after a deferral, and `newsletter log --kind` lists them."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from smtp_server import RecordingServer
from sqlmodel import select
from test_web_signup import CONFIRM, deliveries, sign_up, text_of, use_smtp
from web_helpers import WebWorld, csrf_of

from newsletter.campaigns.notices import queue_notice
from newsletter.campaigns.tables import Delivery, DeliveryKind
from newsletter.cli import cli
from newsletter.subscribers.gdpr import forget
from newsletter.subscribers.optin import add_request, request_signup
from newsletter.subscribers.people import recipients
from newsletter.subscribers.tables import SignupRequest


@pytest.fixture
def smtp():
    with RecordingServer() as srv:
        yield srv


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def posts(w: WebWorld) -> int:
    with w.db.session() as s:
        return len(s.exec(select(SignupRequest)).all())


def by_address(w: WebWorld) -> dict[str, Delivery]:
    return {d.address: d for d in deliveries(w, "confirmation")}


def test_a_stopped_server_sends_what_was_waiting_when_it_starts_again(web, smtp) -> None:
    smtp.hold()  # every DATA waits until the test lets it through
    web.settings = replace(web.settings, smtp=replace(web.settings.smtp, timeout=30.0))
    use_smtp(web, smtp)
    with web.client() as c:
        assert sign_up(c, "first@example.org").status_code == 200
        wait_for(lambda: smtp.held == 1, "the first mail to be in flight")
        # While the outbox is busy, two more sign-ups come in: stored, not decided.
        for address in ("second@example.org", "third@example.org"):
            assert sign_up(c, address).status_code == 200
    assert posts(web) == 2
    smtp.release()  # first@ is delivered; the outbox decides the two others and
    wait_for(lambda: smtp.held == 1, "the second mail to be in flight")  # sends second@
    with web.client() as c:
        assert sign_up(c, "fourth@example.org").status_code == 200
    stopping = threading.Thread(target=web.live.stop)
    stopping.start()
    wait_for(web.live.outbox.stopping.is_set, "the server to stop")
    smtp.release()  # the mail in flight is finished, then the outbox stops
    stopping.join(15)
    assert not stopping.is_alive()
    assert [m.rcpt for m in smtp.messages] == ["first@example.org", "second@example.org"]
    log = by_address(web)
    assert {a: d.status for a, d in log.items()} == {
        "first@example.org": "sent",
        "second@example.org": "sent",
        "third@example.org": "queued",  # decided and queued, in the database
    }
    assert posts(web) == 1  # fourth@: the post itself waits in the database

    smtp.release(100)
    live = web.restart()
    live.drain()
    assert sorted(smtp.received_by()) == [
        "first@example.org", "fourth@example.org", "second@example.org", "third@example.org",
    ]  # fmt: skip
    assert set(smtp.received_by().values()) == {1}
    assert {d.status for d in by_address(web).values()} == {"sent"}
    # The link in a mail the second server sent works like any other.
    (third,) = [m for m in smtp.messages if m.rcpt == "third@example.org"]
    (link,) = set(CONFIRM.findall(text_of(third)))
    with web.client() as c:
        button = c.get(link)
        done = c.post(link, data={"csrf": csrf_of(button.text)})
        assert done.status_code == 200 and "Anmeldung bestätigt" in done.text
    with web.db.session() as s:
        assert [p.email for p in recipients(s, "news")] == ["third@example.org"]


def test_a_deferring_server_then_accepting_gets_exactly_one_copy(web, smtp) -> None:
    smtp.fault("grey@example.org", "451", "451")
    use_smtp(web, smtp, mail_retry_seconds=0.2)
    with web.client() as c:
        assert sign_up(c, "grey@example.org").status_code == 200
    web.live.drain()
    assert smtp.received_by() == {"grey@example.org": 1}
    (row,) = deliveries(web, "confirmation")
    assert (row.status, row.attempts, row.smtp_code, row.next_attempt_at) == ("sent", 3, 250, None)
    assert row.history.count("451 4.7.1 Greylisted, try again later") == 2
    # The retries waited 0.2 s, then 0.4 s: later, not in a burst.
    assert (row.finished_at - row.queued_at).total_seconds() >= 0.6
    assert [m.message["Message-ID"] for m in smtp.messages] == [f"<{row.message_id}>"]


def test_a_mail_deferred_to_the_last_attempt_is_failed_with_the_reply(web, smtp) -> None:
    smtp.fault("never@example.org", *["451"] * 3)
    use_smtp(web, smtp, mail_retry_seconds=0.05, mail_attempts=3)
    with web.client() as c:
        sign_up(c, "never@example.org")
    web.live.drain()
    assert smtp.messages == []
    (row,) = deliveries(web, "confirmation")
    assert (row.status, row.attempts, row.smtp_code) == ("failed", 3, 451)
    assert row.smtp_reply == "451 4.7.1 Greylisted, try again later"


def run_cli(w: WebWorld, tmp_path: Path, *args: str):
    config = tmp_path / "log.toml"
    config.write_text(f'[database]\nurl = "{w.settings.database_url}"\n', encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(config), *args], env={"COLUMNS": "200"})


def test_log_lists_confirmation_and_welcome_mails(web, smtp, tmp_path: Path) -> None:
    (tmp_path / "welcome").mkdir()
    (tmp_path / "welcome" / "news.yaml").write_text("subject: Willkommen\n", encoding="utf-8")
    smtp.fault("late@example.org", "451")
    use_smtp(web, smtp, welcome_dir=str(tmp_path / "welcome"), mail_retry_seconds=3600)
    web.add(1)
    campaign = web.campaign()
    with web.client() as c:
        sign_up(c, "late@example.org")
        sign_up(c, "neu@example.org")
        wait_for(lambda: len(smtp.messages) == 1, "the confirmation of neu@")
        (link,) = set(CONFIRM.findall(text_of(smtp.messages[0])))
        button = c.get(link)
        c.post(link, data={"csrf": csrf_of(button.text)})
    wait_for(lambda: len(smtp.messages) == 2, "the welcome mail")

    r = run_cli(web, tmp_path, "log", "--kind", "confirmation", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert list(rows[0])[-3:] == ["kind", "campaign", "next_attempt"]
    assert [(x["address"], x["status"], x["kind"]) for x in rows] == [
        ("late@example.org", "deferred", "confirmation"),
        ("neu@example.org", "sent", "confirmation"),
    ]
    late = rows[0]
    assert late["reply"] == "451 4.7.1 Greylisted, try again later" and late["next_attempt"]
    assert rows[1]["campaign"] == "" and rows[1]["next_attempt"] == ""

    r = run_cli(web, tmp_path, "log", "--kind", "welcome", "--format", "json")
    (welcome,) = json.loads(r.output)
    assert (welcome["address"], welcome["status"], welcome["kind"]) == (
        "neu@example.org", "sent", "welcome",
    )  # fmt: skip

    r = run_cli(web, tmp_path, "log", "--kind", "confirmation", "--status", "deferred")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split()[:8] == ["id", "┃", "kind", "┃", "queued", "┃", "address", "┃"]
    assert "late@example.org" in r.output and "neu@example.org" not in r.output
    assert "451 4.7.1 Greylisted" in r.output

    # --kind all: the campaign's deliveries beside them, each with its campaign.
    r = run_cli(web, tmp_path, "log", "--kind", "all", "--format", "json")
    every = json.loads(r.output)
    assert [(x["kind"], x["campaign"]) for x in every] == [
        ("campaign", campaign), ("confirmation", None), ("confirmation", None), ("welcome", None),
    ]  # fmt: skip
    with web.db.engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar()
    assert len(every) == total

    r = run_cli(web, tmp_path, "log")
    assert r.exit_code == 2
    assert (
        "Error: give a CAMPAIGN_ID, or --kind confirmation, invitation, reminder, welcome or all"
        in r.output
    )
    r = run_cli(web, tmp_path, "log", str(campaign), "--kind", "welcome")
    assert r.exit_code == 2
    assert "--kind welcome lists deliveries of every campaign or none" in r.output
    r = run_cli(web, tmp_path, "log", str(campaign), "--format", "csv")
    assert r.exit_code == 0 and "kind" not in r.output.splitlines()[0]  # as before


def test_forgetting_a_person_stops_the_mails_waiting_for_them(web, smtp) -> None:
    with web.db.session() as s:
        add_request(s, "news", "gone@example.org")  # a post the server never decided
        plan = request_signup(s, "news", "gone2@example.org")
        queue_notice(s, web.settings, DeliveryKind.CONFIRMATION, "gone2@example.org",
                     signup_id=plan.signup.id)  # fmt: skip
        forget(s, "gone@example.org")
        forget(s, "gone2@example.org")
    use_smtp(web, smtp)
    web.live.drain()
    assert smtp.messages == [] and posts(web) == 0
    (row,) = deliveries(web, "confirmation")
    assert (row.status, row.address, row.attempts) == ("skipped", None, 0)


def test_a_mail_a_dead_server_was_sending_is_unknown_not_sent_again(web, smtp) -> None:
    with web.db.session() as s:
        plan = request_signup(s, "news", "maybe@example.org")
        delivery_id = queue_notice(s, web.settings, DeliveryKind.CONFIRMATION,
                                   "maybe@example.org", signup_id=plan.signup.id)  # fmt: skip
        row = s.get(Delivery, delivery_id)
        row.status, row.attempts = "sending", 1
        row.claimed_at = datetime.now(UTC) - timedelta(hours=1)
    use_smtp(web, smtp)
    wait_for(lambda: deliveries(web, "confirmation")[0].status == "unknown", "the recovery")
    web.live.drain()
    assert smtp.messages == []
    (row,) = deliveries(web, "confirmation")
    assert row.smtp_reply == "the server stopped while sending; it may have been delivered"
