"""The List-Unsubscribe ``mailto:`` address works: the composer's token, read back by mail.

The composer writes ``mailto:ADDRESS?subject=unsubscribe%20TOKEN``; these
tests take that header from a composed message, write the mail a client
sends for it, and check that exactly that subscription ends.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from urllib.parse import parse_qs, unquote, urlsplit

from inbound_helpers import Sent
from sqlmodel import select

from newsletter.campaigns.composer import Composer
from newsletter.campaigns.ledger import Job
from newsletter.campaigns.tables import Campaign, Delivery
from newsletter.inbound.process import process_source
from newsletter.inbound.sources import MaildirSource
from newsletter.inbound.unsubscribe import unsubscribe_by_mail
from newsletter.subscribers.tables import ConsentEvent, Subscription
from newsletter.tokens import bounce_token, token_key


def _client_mail(sent: Sent, address: str) -> tuple[bytes, int]:
    """What a mail client sends when its reader clicks the mailto unsubscribe."""
    with sent.db.session() as s:
        campaign = s.get(Campaign, sent.campaign_id)
        d = s.exec(select(Delivery).where(Delivery.address == address)).one()
        assert campaign is not None and d.id is not None and d.subscriber_id is not None
        job = Job(d.id, address, d.name, d.subscriber_id, 0, "queued")
        Composer(sent.db, sent.settings, campaign)(job)
    header = str(BytesParser(policy=default).parsebytes(job.data)["List-Unsubscribe"])
    mailto = next(p.strip(" <>") for p in header.split(",") if "mailto:" in p)
    url = urlsplit(mailto)
    msg = EmailMessage()
    msg["From"] = address
    msg["To"] = unquote(url.path)
    msg["Subject"] = parse_qs(url.query)["subject"][0]
    msg.set_content("sent by the mail client")
    return msg.as_bytes(), d.subscriber_id


def _status(sent: Sent, subscriber_id: int) -> str:
    with sent.db.session() as s:
        return s.exec(
            select(Subscription.status).where(Subscription.subscriber_id == subscriber_id)
        ).one()


def test_the_composed_mailto_unsubscribes_exactly_once(sent: Sent) -> None:
    raw, sid = _client_mail(sent, "otto@example.com")
    assert b"To: unsubscribe@isa.example.org" in raw
    with sent.db.session() as s:
        result = unsubscribe_by_mail(s, raw)
    assert result is not None and result.changed
    assert _status(sent, sid) == "unsubscribed"
    with sent.db.session() as s:
        again = unsubscribe_by_mail(s, raw)
        events = s.exec(
            select(ConsentEvent).where(
                ConsentEvent.subscriber_id == sid, ConsentEvent.action == "unsubscribe"
            )
        ).all()
    assert again is not None and not again.changed
    assert [(e.source, e.list_slug) for e in events] == [("mailto", "news")]


def test_a_forged_or_repurposed_token_changes_nothing(sent: Sent) -> None:
    raw, sid = _client_mail(sent, "otto@example.com")
    subject = raw.split(b"Subject: ")[1].split(b"\n")[0].decode()
    forged = subject[:-2] + ("aa" if not subject.endswith("aa") else "bb")
    key = token_key(sent.db.secret)
    with sent.db.session() as s:
        assert unsubscribe_by_mail(s, forged) is None
        assert unsubscribe_by_mail(s, subject[:-5]) is None
        # A VERP bounce token is signed for another purpose: it unsubscribes no one.
        assert unsubscribe_by_mail(s, f"unsubscribe {bounce_token(key, sid)}") is None
        assert unsubscribe_by_mail(s, "Re: your newsletter") is None
    assert _status(sent, sid) == "confirmed"


def test_inbound_process_acts_on_an_unsubscribe_mail_in_a_mailbox(sent: Sent) -> None:
    raw, sid = _client_mail(sent, "paula@example.net")
    box = sent.maildir("Maildir", [])
    (box / "new" / "1764577000.M1P1.mx").write_bytes(raw)
    report = process_source(sent.db, sent.settings, MaildirSource(box))
    assert (dict(report.kinds), dict(report.decisions), report.moved) == (
        {"unsubscribe": 1},
        {"unsubscribed": 1},
        1,
    )
    assert _status(sent, sid) == "unsubscribed"
