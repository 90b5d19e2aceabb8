"""The bounce corpus (tests/fixtures/bounces/<family>/): each message's kind, reason, status and
address, read by the detector of its family; and what no detector understands stays untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from bounce_corpus import BOUNCES, CORPUS, UID, Case
from inbound_helpers import SECRET, inbound_settings, tree
from sqlmodel import select

from newsletter.campaigns.tables import Delivery
from newsletter.db import Database
from newsletter.inbound import detectors
from newsletter.inbound.classify import Context, classify
from newsletter.inbound.process import process_source
from newsletter.inbound.sources import MaildirSource
from newsletter.inbound.tables import Bounce
from newsletter.subscribers.lists import create_list
from newsletter.subscribers.people import add_subscriber
from newsletter.subscribers.suppressions import suppression_for
from newsletter.tokens import bounce_token, message_id_mac, token_key

KEY = token_key(hashlib.sha256(SECRET.encode()).digest())
CONTEXT = Context(KEY, "isa.example.org")
REPORT_FORMATS = {"rfc3464": "rfc3464", "arf": None}
# Sun's notice with an RFC 3464 part: the standard part is read, with its commented status.
FORMAT = {"sun-messaging-server/dsn_with_comment.eml": "rfc3464"}


def test_the_corpus_is_complete_and_large_enough() -> None:
    files = sorted(str(p.relative_to(BOUNCES)) for p in BOUNCES.rglob("*.eml"))
    assert files == sorted(c.path for c in CORPUS)
    assert len(files) >= 60
    names = {m.NAME for m in detectors.DETECTORS}
    families = {c.family for c in CORPUS} - set(REPORT_FORMATS)
    assert families == names, "a folder per detector, a detector per folder"
    assert all(sum(c.family == f for c in CORPUS) >= 3 for f in families)


@pytest.mark.parametrize("case", CORPUS, ids=[c.path for c in CORPUS])
def test_kind_reason_status_and_address(case: Case) -> None:
    c = classify((BOUNCES / case.path).read_bytes(), CONTEXT)
    got = (c.kind, c.reason, c.status)
    assert got == (case.kind, case.reason, case.status), c.reasons
    expected_format = FORMAT.get(case.path, REPORT_FORMATS.get(case.family, case.family))
    if expected_format is not None:
        assert c.format == expected_format
    if case.kind != "complaint":
        assert c.evidence.recipients[0] == case.address, c.evidence.recipients
    assert c.evidence.authenticated and not c.evidence.forged


def test_the_date_or_subject_is_never_the_reason() -> None:
    """Exchange 2003 puts a date on the recipient's line; the reason is on the next one."""
    c = classify((BOUNCES / "exchange-2003/not_recognized.eml").read_bytes(), CONTEXT)
    assert c.diagnostic is not None
    assert c.diagnostic.startswith("The recipient name is not recognized")
    assert "Dec 2026" not in c.diagnostic


def _without_markers(raw: bytes) -> bytes:
    """The James notice with its format's markers reworded: no detector knows it any more."""
    return (
        raw.replace(b"This is the James mail server", b"This is the server")
        .replace(b"Failed recipient(s):", b"Addresses:")
        .replace(b"Error message:", b"Details:")
        .replace(b"550 5.1.1", b"said no")
    )


@pytest.fixture
def corpus_world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A campaign sent to every address of the corpus, delivery n to CORPUS[n - 1]."""
    from delivery_helpers import FakeRendered

    from newsletter.campaigns import store

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY_FILE", raising=False)
    settings = inbound_settings(tmp_path, database_url)
    db = Database.from_settings(settings)
    with db.session() as s:
        create_list(s, "news", "ISA-Newsletter")
        for case in CORPUS:
            add_subscriber(s, case.address, ["news"], status="confirmed", consent_note="corpus")
        c = store.create_campaign(s, FakeRendered(), "news")
        c.uid, c.status = UID, "finished"
        s.add(c)
        s.flush()
        key = token_key(db.secret)
        for d in s.exec(select(Delivery).where(Delivery.campaign_id == c.id)):
            assert d.id is not None
            assert d.address == CORPUS[d.id - 1].address
            d.status, d.attempts = "sent", 1
            d.message_id = f"{UID}.{d.id}.{message_id_mac(key, d.id)}@isa.example.org"
            s.add(d)
    assert bounce_token(key, 1).startswith("1-")
    yield db, settings, tmp_path
    db.dispose()


def test_the_whole_corpus_through_inbound_process(corpus_world) -> None:
    db, settings, tmp = corpus_world
    box = tmp / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i, case in enumerate(CORPUS):
        (box / "new" / f"{i:03d}.{case.family}").write_bytes((BOUNCES / case.path).read_bytes())
    james = (BOUNCES / "apache-james/user_unknown.eml").read_bytes()
    (box / "new" / "unknown-format").write_bytes(_without_markers(james))
    report = process_source(db, settings, MaildirSource(box))
    assert (report.moved, report.not_ours) == (len(CORPUS), 1)
    assert [p for p in tree(box) if not p.startswith(".Processed/")] == ["new/unknown-format"]
    with db.session() as s:
        rows = {b.address: b for b in s.exec(select(Bounce))}
        for case in CORPUS:
            row = rows[case.address]
            assert (row.kind, row.reason, row.status) == (case.kind, case.reason, case.status)
            assert row.attribution in ("verp", "message-id")
            suppressed = suppression_for(s, case.address)
            should = case.kind in ("hard", "complaint")
            assert (suppressed is not None) == should, case.path
    again = process_source(db, replace(settings), MaildirSource(box))
    assert (again.seen, again.moved, sum(again.kinds.values())) == (1, 0, 0)
