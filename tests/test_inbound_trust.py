"""Only authenticated evidence acts: forged reports naming a real subscriber change nothing.

The attacker is a reader of ours: they know the shape of our Message-IDs
(their own, ``<uid>.<their delivery>.<MAC>@isa.example.org``), our List-Id
and the address of another subscriber, and mail a DSN or an ARF report to
our bounce or abuse address. Before the MAC, writing the other delivery's
id into the Message-ID (or only naming the List-Id) suppressed or
unsubscribed that subscriber.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from inbound_helpers import PEOPLE, UID, Sent, tree
from sqlmodel import select

from newsletter.campaigns.tables import Campaign, Delivery
from newsletter.inbound.process import process_source
from newsletter.inbound.sources import MaildirSource
from newsletter.inbound.tables import Bounce
from newsletter.subscribers.suppressions import suppression_for
from newsletter.subscribers.tables import Subscription
from newsletter.tokens import bounce_token, message_id_mac, token_key

VICTIM = 7  # gustav@example.com, delivery 7
ATTACKER = 5  # emil@example.net, delivery 5: the Message-ID the attacker received


def _key(sent: Sent) -> bytes:
    return token_key(sent.db.secret)


def _mid(sent: Sent, delivery: int, mac_of: int | None = None) -> str:
    mac = message_id_mac(_key(sent), delivery if mac_of is None else mac_of)
    return f"{UID}.{delivery}.{mac}@isa.example.org"


def _dsn(
    recipient: str, *, to: str, message_id: str | None, list_id: bool = True, returned: bool = True
) -> bytes:
    """A Postfix-shaped DSN for ``recipient``, returning headers with ``message_id``."""
    headers = "From: ISA-Newsletter <newsletter@isa.example.org>\n" + f"To: <{recipient}>\n"
    if message_id:
        headers += f"Message-ID: <{message_id}>\n"
    if list_id:
        headers += "List-Id: ISA-Newsletter <news.isa.example.org>\n"
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
        f"To: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n<{recipient}>: host mx.example.com said: "
        f"550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\n\n"
        + (f"--b\nContent-Type: text/rfc822-headers\n\n{headers}\n" if returned else "")
        + "--b--\n"
    ).encode()


def _arf(recipient: str, message_id: str | None, mail_from: str | None = None) -> bytes:
    returned = (
        "From: ISA-Newsletter <newsletter@isa.example.org>\n"
        f"To: <{recipient}>\n"
        "List-Id: ISA-Newsletter <news.isa.example.org>\n"
        + (f"Message-ID: <{message_id}>\n" if message_id else "")
        + "Subject: News\n\nHello\n"
    )
    original_from = f"Original-Mail-From: <{mail_from}>\n" if mail_from else ""
    return (
        "From: Feedback Loop <fbl@feedback.example.com>\n"
        "To: abuse@isa.example.org\n"
        "Subject: complaint\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="f"\n\n'
        "--f\nContent-Type: text/plain\n\nThis is an abuse report.\n\n"
        "--f\nContent-Type: message/feedback-report\n\n"
        f"Feedback-Type: abuse\nUser-Agent: ExampleFBL/1.0\nVersion: 1\n{original_from}"
        f"Original-Rcpt-To: <{recipient}>\n\n"
        f"--f\nContent-Type: message/rfc822\n\n{returned}\n--f--\n"
    ).encode()


def _run(sent: Sent, messages: dict[str, bytes], *, trust: bool = False):
    box = sent.tmp / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for name, data in messages.items():
        (box / "new" / name).write_bytes(data)
    settings = replace(
        sent.settings, inbound=replace(sent.settings.inbound, trust_recipient_only=trust)
    )
    before = tree(box)
    report = process_source(sent.db, settings, MaildirSource(box))
    return report, before, tree(box), box


def _state(sent: Sent, address: str) -> tuple[bool, set[str], list[tuple[str, str, str | None]]]:
    """Suppressed?, the subscription statuses, and the bounce rows (kind, decision, how)."""
    with sent.db.session() as s:
        suppressed = suppression_for(s, address) is not None
        statuses = {x.status for x in s.exec(select(Subscription))}
        rows = [(b.kind, b.decision, b.attribution) for b in s.exec(select(Bounce))]
    return suppressed, statuses, rows


VICTIM_ADDRESS = PEOPLE[VICTIM - 1]


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trust_recipient_only"])
def test_forged_dsn_with_a_look_alike_message_id_changes_nothing(sent: Sent, trust: bool) -> None:
    # The attacker's own Message-ID with the victim's delivery id written in: the MAC is theirs.
    forged = _mid(sent, VICTIM, mac_of=ATTACKER)
    report, before, after, _ = _run(
        sent,
        {"forged": _dsn(VICTIM_ADDRESS, to="newsletter@isa.example.org", message_id=forged)},
        trust=trust,
    )
    assert (report.not_ours, report.moved) == (1, 0)
    assert after == before  # untouched: not ours
    assert _state(sent, VICTIM_ADDRESS) == (False, {"confirmed"}, [])


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trust_recipient_only"])
def test_forged_arf_naming_a_real_subscriber_changes_nothing(sent: Sent, trust: bool) -> None:
    forged = _mid(sent, VICTIM, mac_of=ATTACKER)
    report, before, after, _ = _run(sent, {"arf": _arf(VICTIM_ADDRESS, forged)}, trust=trust)
    assert (report.not_ours, after == before) == (1, True)
    assert _state(sent, VICTIM_ADDRESS) == (False, {"confirmed"}, [])


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trust_recipient_only"])
def test_an_arf_matched_by_recipient_and_list_id_only_is_recorded_and_acts_on_nothing(
    sent: Sent, trust: bool
) -> None:
    _run(sent, {"arf": _arf(VICTIM_ADDRESS, None)}, trust=trust)
    assert _state(sent, VICTIM_ADDRESS) == (
        False,
        {"confirmed"},
        [("unverified", "recorded", "list-id")],
    )


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trust_recipient_only"])
def test_a_tampered_verp_token_is_not_ours_and_left_untouched(sent: Sent, trust: bool) -> None:
    token = bounce_token(_key(sent), VICTIM)
    delivery, _, mac = token.partition("-")
    tampered = f"bounces+{int(delivery) + 1}-{mac}@isa.example.org"
    report, before, after, _ = _run(
        sent, {"verp": _dsn(PEOPLE[VICTIM], to=tampered, message_id=None)}, trust=trust
    )
    assert (report.not_ours, after == before) == (1, True)
    assert _state(sent, PEOPLE[VICTIM]) == (False, {"confirmed"}, [])


@pytest.mark.parametrize("trust", [False, True], ids=["default", "trust_recipient_only"])
def test_a_genuine_bounce_acts(sent: Sent, trust: bool) -> None:
    genuine = {
        "verp": _dsn(
            VICTIM_ADDRESS,
            to=f"bounces+{bounce_token(_key(sent), VICTIM)}@isa.example.org",
            message_id=None,
        ),
        "mid": _dsn(
            PEOPLE[ATTACKER - 1], to="newsletter@isa.example.org", message_id=_mid(sent, ATTACKER)
        ),
    }
    report, _, after, _ = _run(sent, genuine, trust=trust)
    assert (report.moved, report.decisions["suppressed"]) == (2, 2)
    assert all(p.startswith(".Processed/") for p in after)
    with sent.db.session() as s:
        rows = {(b.address, b.attribution, b.kind) for b in s.exec(select(Bounce))}
        assert suppression_for(s, VICTIM_ADDRESS) is not None
    assert rows == {
        (VICTIM_ADDRESS, "verp", "hard"),
        (PEOPLE[ATTACKER - 1], "message-id", "hard"),
    }


def test_recipient_only_is_unverified_unless_trusted(sent: Sent) -> None:
    # A relay that strips the return path and sends no returned headers at all.
    lone = _dsn(VICTIM_ADDRESS, to="newsletter@isa.example.org", message_id=None, returned=False)
    _run(sent, {"lone": lone})
    assert _state(sent, VICTIM_ADDRESS) == (
        False,
        {"confirmed"},
        [("unverified", "recorded", "dsn-recipient")],
    )
    # The same report again (new bytes), with the admin's explicit trust: it acts.
    _run(sent, {"lone-2": lone + b"\n"}, trust=True)
    suppressed, _, rows = _state(sent, VICTIM_ADDRESS)
    assert suppressed and rows[-1] == ("hard", "suppressed", "dsn-recipient")


def test_a_message_id_without_mac_is_unverified(sent: Sent) -> None:
    """A Message-ID from before the MAC (or a look-alike of one) is a claim, not a proof."""
    with sent.db.session() as s:
        d = s.get(Delivery, VICTIM)
        assert d is not None
        d.message_id = f"{UID}.{VICTIM}@isa.example.org"  # sent by an older version
        s.add(d)
    old = _dsn(
        VICTIM_ADDRESS,
        to="newsletter@isa.example.org",
        message_id=f"{UID}.{VICTIM}@isa.example.org",
        list_id=False,
    )
    _run(sent, {"old": old})
    assert _state(sent, VICTIM_ADDRESS) == (
        False,
        {"confirmed"},
        [("unverified", "recorded", "unsigned-message-id")],
    )


def test_a_bounce_never_attaches_to_a_delivery_of_a_draft(sent: Sent) -> None:
    with sent.db.session() as s:
        c = s.get(Campaign, sent.campaign_id)
        assert c is not None
        c.status = "draft"
        s.add(c)
        for d in s.exec(select(Delivery)):
            d.status = "queued"
            s.add(d)
    genuine = _dsn(
        VICTIM_ADDRESS,
        to=f"bounces+{bounce_token(_key(sent), VICTIM)}@isa.example.org",
        message_id=_mid(sent, VICTIM),
    )
    report, before, after, _ = _run(sent, {"draft": genuine}, trust=True)
    assert (report.not_ours, after == before) == (1, True)
    assert _state(sent, VICTIM_ADDRESS) == (False, {"confirmed"}, [])


def test_message_id_mac_is_checked_in_constant_time_and_bound_to_the_delivery(
    sent: Sent,
) -> None:
    from newsletter.tokens import message_id_verifies

    key = _key(sent)
    mac = message_id_mac(key, VICTIM)
    assert message_id_verifies(key, VICTIM, mac)
    assert message_id_verifies(key, VICTIM, mac.upper())  # some MTAs fold case
    assert not message_id_verifies(key, VICTIM + 1, mac)
    assert not message_id_verifies(token_key(b"another installation"), VICTIM, mac)
    assert not message_id_verifies(key, VICTIM, "\u212a" + mac[1:])  # Kelvin sign look-alike
    assert len(mac) == 10


def test_unrelated_maildir_gets_no_processed_folder(sent: Sent, tmp_path: Path) -> None:
    forged = _mid(sent, VICTIM, mac_of=ATTACKER)
    _, _, _, box = _run(
        sent, {"forged": _dsn(VICTIM_ADDRESS, to="x@example.com", message_id=forged)}
    )
    assert not (box / ".Processed").exists()


def test_a_look_alike_message_id_is_classified_as_forged(sent: Sent) -> None:
    """The MAC check itself: the look-alike is evidence of forgery, never of a delivery."""
    from newsletter.inbound.classify import classify
    from newsletter.inbound.process import context_for

    ctx = context_for(sent.db, sent.settings)
    forged = _mid(sent, VICTIM, mac_of=ATTACKER)
    c = classify(_dsn(VICTIM_ADDRESS, to="x@example.com", message_id=forged), ctx)
    assert (c.evidence.message_ids, c.evidence.forged) == (
        [],
        [f"Message-ID {forged} fails verification"],
    )
    genuine = _mid(sent, VICTIM)
    c = classify(_dsn(VICTIM_ADDRESS, to="x@example.com", message_id=genuine), ctx)
    assert (c.evidence.message_ids, c.evidence.forged) == ([(genuine, VICTIM)], [])
