"""Imported people are invited, reminded once and expired: mails at a real SMTP server, the
confirmation through the served page, the CLI as an administrator runs it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from smtp_server import RecordingServer
from sqlmodel import select
from web_helpers import WebWorld, csrf_of

from newsletter.campaigns.invitations import invite
from newsletter.campaigns.tables import Delivery
from newsletter.cli import cli
from newsletter.db.columns import utcnow
from newsletter.subscribers.people import recipients
from newsletter.subscribers.suppressions import suppress
from newsletter.subscribers.tables import (
    ConsentEvent,
    Signup,
    Subscriber,
    Subscription,
    Suppression,
)
from newsletter.workers import housekeeping

CONFIRM = re.compile(r"https?://\S+/confirm/[a-z0-9-]+")
PEOPLE = [f"member{i}@example.org" for i in range(6)]


@pytest.fixture
def smtp():
    with RecordingServer() as srv:
        yield srv


def configure(w: WebWorld, smtp: RecordingServer, tmp_path: Path) -> Path:
    """A newsletter.toml for the CLI: the world's database, the SMTP server, the server's URL."""
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'[organisation]\nname = "ISA"\nsender_name = "ISA-Newsletter"\n'
        f'sender_email = "newsletter@isa.example.org"\npostal_address = "Berlin"\nlanguage = "de"\n'
        f'[delivery]\ntransport = "smtp"\nbase_url = "{w.url}"\n'
        f'unsubscribe_mailto = "unsubscribe@isa.example.org"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntimeout = 5\n'
        f'[database]\nurl = "{w.settings.database_url}"\n',
        encoding="utf-8",
    )
    w.configure(transport="smtp")
    org = replace(w.settings.organisation, language="de")
    w.settings = replace(
        w.settings, organisation=org, smtp=replace(w.settings.smtp, port=smtp.port)
    )
    return config


def run(config: Path, *args: str):
    r = CliRunner().invoke(cli, ["--config", str(config), *args], env={"COLUMNS": "200"})
    return r


def text_of(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def backdate(w: WebWorld, days: float) -> None:
    """Move every sign-up and subscription ``days`` into the past: the test's clock."""
    delta = timedelta(days=days)
    with w.db.session() as s:
        for row in [*s.exec(select(Signup)).all(), *s.exec(select(Subscription)).all()]:
            row.created_at -= delta
            s.add(row)


def test_invite_confirm_remind_expire(web: WebWorld, smtp: RecordingServer, tmp_path) -> None:
    config = configure(web, smtp, tmp_path)
    # Someone already on the list, unconfirmed, whose address bounced since.
    (bounced,) = web.add(1, status="unconfirmed", prefix="bounced")
    with web.db.session() as s:
        suppress(s, bounced, "bounced", source="test")
    csv = tmp_path / "members.csv"
    csv.write_text("email,name\n" + "".join(f"{a},\n" for a in PEOPLE), encoding="utf-8")

    r = run(config, "subscribers", "import", str(csv), "--list", "news", "--invite",
            "--invite-reason", "Sie sind Mitglied des Vereins")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Invited 6 on news; skipped 0 with an invitation still valid, 1 suppressed." in r.output
    assert "Mails: 6 sent" in r.output
    assert sorted(m.rcpt for m in smtp.messages) == PEOPLE
    first = smtp.messages[0]
    assert first.message["Subject"] == "Bitte bestätigen: ISA hat Sie in ISA-Newsletter eingetragen"
    body = text_of(first)
    flat = " ".join(body.split())  # the text part is wrapped at 78 columns
    assert "ISA hat diese Adresse in den Verteiler „ISA-Newsletter“ eingetragen." in flat
    assert "Warum: Sie sind Mitglied des Vereins" in flat
    assert "Ohne Bestätigung wird nichts gespeichert" not in flat  # untrue for them
    assert "nichts über das hinaus gespeichert, was ISA eingetragen hat" in flat
    assert "nach 30 Tagen aus dem Verteiler gelöscht" in flat
    assert "weil ISA diese Adresse in „ISA-Newsletter“ eingetragen hat." in flat  # the footer
    assert "Anmeldeformular" not in flat  # nobody typed it into the form
    assert first.message["List-Unsubscribe"] is None  # not on the list until they confirm
    assert first.message["Content-Language"] == "de"  # the same header path as every mail
    assert first.message["Auto-Submitted"] == "auto-generated"
    links = set(CONFIRM.findall(body))
    assert len(links) == 1
    # One button; the only other link is the same address spelled out for clients without it.
    html = first.message.get_body(("html",)).get_content()
    assert html.count(">Ja, bitte zusenden<") == 1
    assert set(re.findall(r'<a [^>]*href="([^"]+)"', html)) == links

    r = run(config, "log", "--kind", "invitation", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert r.output.count(",invitation,") == 6 and r.output.count(",sent,") == 6

    # A second invitation while the first can still be confirmed: none.
    r = run(config, "subscribers", "invite", "--list", "news")
    assert r.exit_code == 0, r.output
    assert "Invited 0 on news; skipped 6 with an invitation still valid, 1 suppressed." in r.output
    assert "No mail to send." in r.output
    assert len(smtp.messages) == 6

    # member0 confirms through the served page and is in the next campaign.
    web.serve()
    mail = next(m for m in smtp.messages if m.rcpt == PEOPLE[0])
    (link,) = set(CONFIRM.findall(text_of(mail)))
    with web.client() as c:
        page = c.get(link)
        assert page.status_code == 200
        done = c.post(link, data={"csrf": csrf_of(page.text)})
        assert done.status_code == 200 and "Anmeldung bestätigt" in done.text
    web.live.stop()
    web.live = None
    with web.db.session() as s:
        assert [sub.email for sub in recipients(s, "news")] == [PEOPLE[0]]
    campaign = web.campaign()
    assert set(web.log(campaign)) == {PEOPLE[0]}

    # Three days later: one reminder each to the others but member5, who complained meanwhile.
    with web.db.session() as s:
        suppress(s, PEOPLE[5], "complaint", source="test")
    backdate(web, 3.01)
    r = run(config, "subscribers", "expire")
    assert r.exit_code == 0, r.output
    assert "Reminders queued: 4. Deleted unconfirmed: none." in r.output
    reminders = smtp.messages[6:]
    assert sorted(m.rcpt for m in reminders) == PEOPLE[1:5]
    assert reminders[0].message["Subject"] == "Erinnerung: Bitte bestätigen Sie ISA-Newsletter"
    reminded = " ".join(text_of(reminders[0]).split())
    assert "Dies ist die einzige Erinnerung." in reminded
    assert "ISA hat diese Adresse in den Verteiler „ISA-Newsletter“ eingetragen." in reminded
    assert "Warum: Sie sind Mitglied des Vereins" in reminded
    assert "nichts über das hinaus gespeichert, was ISA eingetragen hat" in reminded
    (again,) = set(CONFIRM.findall(text_of(reminders[0])))
    original = next(m for m in smtp.messages[:6] if m.rcpt == reminders[0].rcpt)
    assert {again} == set(CONFIRM.findall(text_of(original)))  # the same link, still valid
    r = run(config, "subscribers", "expire")
    assert "Reminders queued: 0." in r.output and len(smtp.messages) == 10

    # After 30 days the unconfirmed are deleted, with a consent-log entry and no suppression.
    backdate(web, 27.5)
    r = run(config, "subscribers", "expire")
    assert r.exit_code == 0, r.output
    assert "Deleted unconfirmed: 6 on news." in r.output
    with web.db.session() as s:
        left = s.exec(select(Subscriber.email)).all()
        assert sorted(left) == [PEOPLE[0]]
        events = s.exec(select(ConsentEvent).where(ConsentEvent.action == "expire")).all()
        assert len(events) == 6
        assert {e.subject for e in events} == {None}  # the address is gone from the log too
        assert "unconfirmed for more than 30 days" in events[0].detail
        held = s.exec(select(Suppression.reason)).all()
        assert sorted(held) == ["bounced", "complaint"]  # none added: they never consented
        addresses = s.exec(select(Delivery.address).where(Delivery.kind != "campaign")).all()
        assert set(addresses) <= {PEOPLE[0], None}
    assert len(smtp.messages) == 10


def test_the_daily_round_runs_once_a_day_whoever_asks(web: WebWorld) -> None:
    now = utcnow()
    ran: list[str] = []

    def daily(at) -> bool:
        return housekeeping.daily(web.db, web.settings, lambda: ran.append("sent"), ran.append,
                                  now=at)  # fmt: skip

    assert daily(now) is True
    assert daily(now + timedelta(hours=23)) is False  # another worker, the same day
    assert daily(now + timedelta(hours=25)) is True
    assert ran.count("sent") == 2
    assert ran[0] == "daily round: 0 reminder(s) queued, 0 unconfirmed deleted"


def test_lists_expiry_sets_and_checks_the_days(news, cli_run) -> None:
    r = cli_run("lists", "expiry", "news")
    assert (
        r.exit_code == 0
        and r.output == "news: unconfirmed reminded once after 3 days, deleted after 30 days.\n"
    )
    r = cli_run("lists", "expiry", "news", "--remind-after-days", "0", "--expire-after-days", "14")
    assert r.output == "news: unconfirmed never reminded, deleted after 14 days.\n"
    r = cli_run("lists", "expiry", "news", "--remind-after-days", "20")
    assert r.exit_code == 2
    assert "expiry after 14 days would come before the reminder after 20 days" in r.output
    r = cli_run("lists", "show", "news")
    assert "unconfirmed: never reminded, deleted after 14 days" in r.output


@pytest.mark.sqlite_only("the SQLite worker's polling loop (PostgreSQL runs the round as a task)")
def test_the_worker_sends_the_reminders_once_a_day(web, smtp, tmp_path) -> None:
    from newsletter.transports import open_transport
    from newsletter.web.mailer import Outbox
    from newsletter.web.pages import Pages
    from newsletter.workers import worker

    configure(web, smtp, tmp_path)
    web.add(2, status="unconfirmed", prefix="late")
    with web.db.session() as s:
        invited = invite(s, web.settings, "news")
    outbox = Outbox(web.db, web.settings, Pages(web.settings), {})
    assert outbox.send_now() == 2 and len(smtp.messages) == 2
    backdate(web, 3.5)
    events: list[str] = []
    options = replace(worker.options_from(web.settings), once=True)
    transport = open_transport(web.settings)
    for _ in range(2):  # a restarted worker, the same day: no second round
        worker.run(web.db, web.settings, transport, options, events.append, outbox.send_now)
    assert sorted(m.rcpt for m in smtp.messages[2:]) == sorted(invited.invited)
    assert smtp.messages[2].message["Subject"].startswith("Erinnerung")
    assert "daily round: 2 reminder(s) queued, 0 unconfirmed deleted" in events
    assert "daily round: 2 subscription mail(s) handled" in events
    assert sum(e.startswith("daily round:") for e in events) == 2


def test_invite_since_a_day_and_dry_run(web: WebWorld) -> None:
    web.add(2, status="unconfirmed", prefix="old")
    with web.db.session() as s:
        for row in s.exec(select(Subscription)).all():
            row.created_at -= timedelta(days=10)
            s.add(row)
    (new,) = web.add(1, status="unconfirmed", prefix="new")
    with web.db.session() as s:
        since = utcnow() - timedelta(days=1)
        plan = invite(s, web.settings, "news", since=since, dry_run=True)
        assert plan.invited == [new]
        assert s.exec(select(Signup)).all() == []  # a dry run stores nothing
        done = invite(s, web.settings, "news", reason="Mitglied seit 2020")
        assert sorted(done.invited) == sorted([new, "old0@example.com", "old1@example.com"])
        assert {x.reason for x in s.exec(select(Signup)).all()} == {"Mitglied seit 2020"}


def test_a_running_server_sends_invitations_queued_elsewhere(web, smtp, tmp_path) -> None:
    configure(web, smtp, tmp_path)
    (person,) = web.add(1, status="unconfirmed", prefix="queued")
    web.serve()
    with web.db.session() as s:
        invite(s, web.settings, "news")  # e.g. a CLI that was stopped before sending
    web.live.outbox.notify()
    web.live.drain()
    (mail,) = smtp.messages
    assert mail.rcpt == person and mail.message["Subject"].startswith("Bitte bestätigen: ISA")
    r = run(tmp_path / "newsletter.toml", "log", "--kind", "invitation", "--format", "csv")
    assert person in r.output and ",sent," in r.output
