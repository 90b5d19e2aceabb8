"""``inbound process imap://…`` against a real dovecot on 127.0.0.1: ours flagged and moved,
foreign mail byte-, flag- and folder-identical, a second run changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from dovecot_server import Imap, dovecot
from inbound_helpers import EXPECTED, FIXTURES, Sent

OURS = sorted(n for n, (kind, _, _) in EXPECTED.items() if kind != "unrelated")
FOREIGN = sorted(n for n, (kind, _, _) in EXPECTED.items() if kind == "unrelated")
FLAGS = {"human_reply.eml": [b"\\Seen", b"\\Flagged"], "foreign_bounce.eml": [b"\\Answered"]}


@pytest.fixture
def imap(sent: Sent, monkeypatch: pytest.MonkeyPatch) -> Iterator[Imap]:
    with dovecot() as server:
        client = server.client()
        for name in sorted(EXPECTED):
            data = (FIXTURES / name).read_bytes().replace(b"\n", b"\r\n")
            client.append("INBOX", data, flags=FLAGS.get(name, []))
        client.logout()
        monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", server.password)
        yield server


def _state(imap: Imap, folder: str) -> dict[int, tuple[str, frozenset[bytes]]]:
    """uid → (SHA-256 of the message, its flags without the session-only \\Recent)."""
    client = imap.client()
    client.select_folder(folder, readonly=True)
    uids = client.search()
    fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
    client.logout()
    return {
        uid: (
            hashlib.sha256(d[b"BODY[]"]).hexdigest(),
            frozenset(d[b"FLAGS"]) - {b"\\Recent"},
        )
        for uid, d in fetched.items()
    }


def test_imap_moves_ours_keeps_foreign_mail_identical_and_is_idempotent(
    imap: Imap, newsletter
) -> None:
    before = _state(imap, "INBOX")
    assert len(before) == len(EXPECTED)
    r = newsletter("inbound", "process", imap.url)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == (
        f"Moved {len(OURS)}; 0 already processed; {len(FOREIGN)} not ours, left untouched."
    )
    after = _state(imap, "INBOX")
    assert len(after) == len(FOREIGN)
    assert after == {uid: before[uid] for uid in after}  # same UIDs, bytes and flags
    assert {flags for _, flags in after.values()} == {
        frozenset(),
        frozenset({b"\\Seen", b"\\Flagged"}),
        frozenset({b"\\Answered"}),
    }
    processed = _state(imap, "Processed")
    assert len(processed) == len(OURS)
    assert all(b"$NewsletterProcessed" in flags for _, flags in processed.values())
    assert sorted(h for h, _ in processed.values()) == sorted(
        h for uid, (h, _) in before.items() if uid not in after
    )

    r = newsletter("inbound", "process", imap.url)
    assert r.output == (
        f"Processed {len(FOREIGN)} messages: 0 recorded (none).\n"
        f"Moved 0; 0 already processed; {len(FOREIGN)} not ours, left untouched.\n"
    )
    assert _state(imap, "INBOX") == after
    assert _state(imap, "Processed") == processed


def test_imap_without_moving_only_flags_and_skips_flagged_next_time(
    imap: Imap, sent: Sent, newsletter
) -> None:
    with (sent.tmp / "newsletter.toml").open("a") as f:
        f.write("\n[inbound]\nimap_move = false\n")
    before = _state(imap, "INBOX")
    r = newsletter("inbound", "process", imap.url)
    assert r.exit_code == 0, r.output
    after = _state(imap, "INBOX")
    assert after.keys() == before.keys()
    flagged = [uid for uid, (_, flags) in after.items() if b"$NewsletterProcessed" in flags]
    assert len(flagged) == len(OURS)
    for uid, (digest, flags) in after.items():
        assert digest == before[uid][0]
        if uid not in flagged:
            assert flags == before[uid][1]
    r = newsletter("inbound", "process", imap.url)
    assert r.output.startswith(f"Processed {len(FOREIGN)} messages: 0 recorded")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "imap://bounces@mail.example.org/INBOX",
            "imap://bounces@mail.example.org/INBOX: imap:// would send the password in clear; "
            "use imaps:// (plain IMAP only to 127.0.0.1 or ::1)",
        ),
        (
            "imaps://bounces:secret@mail.example.org/INBOX",
            "put the IMAP password in $NEWSLETTER_IMAP_PASSWORD (or "
            "$NEWSLETTER_IMAP_PASSWORD_FILE), not in the URL",
        ),
        (
            "imaps://mail.example.org/INBOX",
            "imaps://mail.example.org/INBOX: needs a user and a host, e.g. "
            "imaps://bounces@host/INBOX",
        ),
        (
            "imaps://bounces@mail.example.org/INBOX",
            "no IMAP password: set $NEWSLETTER_IMAP_PASSWORD or $NEWSLETTER_IMAP_PASSWORD_FILE",
        ),
    ],
)
def test_imap_urls_that_are_refused_before_any_connection(
    newsletter, monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.delenv("NEWSLETTER_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("NEWSLETTER_IMAP_PASSWORD_FILE", raising=False)
    r = newsletter("inbound", "process", url)
    assert (r.exit_code, r.output) == (2, f"Error: {message}\n")


def test_a_wrong_imap_password_is_an_operation_failure(
    imap: Imap, newsletter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "wrong")
    r = newsletter("inbound", "process", imap.url)
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: imap://bounces@127.0.0.1:{imap.port}/INBOX: login refused")
    assert "wrong" not in r.output
