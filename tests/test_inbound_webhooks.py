"""Relay webhooks on a real uvicorn: signed events suppress, forged or replayed ones get 4xx
and change nothing. SES messages are signed here with a local key and certificate; the
verifier's trust is pointed at that certificate in these tests only."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from inbound_helpers import UID, Sent
from sqlmodel import select
from web_helpers import LiveServer, bound_socket

from newsletter.inbound.ses import FETCH_TIMEOUT, SnsVerifier, fetch_https
from newsletter.inbound.tables import Bounce
from newsletter.inbound.webhooks import generic_signature
from newsletter.subscribers.tables import Suppression
from newsletter.tokens import bounce_token, token_key, unsubscribe_token

ARN = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
SUBSCRIBE_URL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t0k"


def _certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


KEY, PEM = _certificate()
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip


def sns(kind: str, message: str, *, when: dt.datetime | None = None, **extra: str) -> dict:
    """An SNS message signed the way Amazon SNS signs (SignatureVersion 1, SHA1withRSA)."""
    when = when or dt.datetime.now(dt.UTC)
    body: dict[str, Any] = {
        "Type": kind,
        "MessageId": hashlib.sha256(f"{message}{when}{extra}".encode()).hexdigest()[:36],
        "TopicArn": ARN,
        "Message": message,
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
        **extra,
    }
    text = "".join(f"{k}\n{body[k]}\n" for k in SIGNED[kind] if k in body)
    body["Signature"] = base64.b64encode(
        KEY.sign(text.encode(), padding.PKCS1v15(), hashes.SHA1())
    ).decode()
    return body


def ses_bounce(sent: Sent, delivery: int, address: str, kind: str = "Permanent") -> str:
    token = bounce_token(token_key(sent.db.secret), delivery)
    return json.dumps(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": kind,
                "bounceSubType": "General" if kind == "Permanent" else "MailboxFull",
                "feedbackId": f"0102018c-{delivery:04d}",
                "bouncedRecipients": [
                    {
                        "emailAddress": address,
                        "action": "failed",
                        "status": "5.1.1" if kind == "Permanent" else "4.2.2",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                        if kind == "Permanent"
                        else "smtp; 452 4.2.2 mailbox full",
                    }
                ],
            },
            "mail": {
                "messageId": f"0102018c-ses-{delivery}",
                "source": f"bounces+{token}@isa.example.org",
                "headers": [{"name": "Message-ID", "value": f"<{UID}.{delivery}@isa.example.org>"}],
            },
        }
    )


@dataclass
class Hooks:
    sent: Sent
    server: LiveServer
    fetched: list[str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=10)

    def state(self) -> tuple[int, list[tuple[str | None, str]]]:
        with self.sent.db.session() as s:
            n = s.execute(sa.select(sa.func.count()).select_from(Bounce)).scalar_one()
            rows = s.exec(select(Suppression).order_by(Suppression.id)).all()  # type: ignore[arg-type]
            sups = [(x.address, x.reason) for x in rows]
        return n, sups


@pytest.fixture
def hooks(sent: Sent, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    monkeypatch.setenv("NEWSLETTER_POSTMARK_WEBHOOK_SECRET", "postmark secret")
    monkeypatch.setenv("NEWSLETTER_WEBHOOK_SECRET", "generic secret")
    sock = bound_socket()
    host, port = sock.getsockname()[:2]
    settings = replace(
        sent.settings,
        delivery=replace(sent.settings.delivery, base_url=f"http://{host}:{port}"),
        inbound=replace(sent.settings.inbound, ses_topic_arns=(ARN,)),
    )
    server = LiveServer(sock, settings, sent.db)
    fetched: list[str] = []

    def fetch(url: str) -> bytes:  # the test's trust: only our certificate, no network
        fetched.append(url)
        return PEM if url == CERT_URL else b""

    server.app.state.sns_verifier = SnsVerifier(fetch=fetch)
    server.start()
    yield Hooks(sent, server, fetched)
    server.stop()


def test_a_signed_ses_bounce_suppresses(hooks: Hooks) -> None:
    body = sns("Notification", ses_bounce(hooks.sent, 1, "anna@example.com"))
    with hooks.client() as c:
        r = c.post("/webhooks/ses", json=body)
    assert (r.status_code, r.text) == (200, "ok: 1 recorded\n")
    assert hooks.state() == (1, [("anna@example.com", "bounced")])
    with hooks.sent.db.session() as s:
        row = s.exec(select(Bounce)).one()
        assert (row.kind, row.attribution, row.delivery_id, row.source) == (
            "hard",
            "verp",
            1,
            "webhook:ses",
        )


def test_a_replayed_ses_notification_is_refused_and_changes_nothing(hooks: Hooks) -> None:
    body = sns("Notification", ses_bounce(hooks.sent, 2, "bert@example.com", "Transient"))
    with hooks.client() as c:
        assert c.post("/webhooks/ses", json=body).status_code == 200
        before = hooks.state()
        r = c.post("/webhooks/ses", json=body)
    assert (r.status_code, r.text) == (409, "refused: event already received (replay)\n")
    assert hooks.state() == before


@pytest.mark.parametrize(
    ("tamper", "status", "text"),
    [
        (lambda b: b.update(Message=b["Message"].replace("anna", "bert")), 403,
         "refused: SNS signature does not verify\n"),
        (lambda b: b.update(SigningCertURL="https://sns.eu-west-1.amazonaws.com.example.org/c.pem"),
         403, "refused: SigningCertURL is not an https URL of Amazon SNS\n"),
        (lambda b: b.update(SigningCertURL="http://sns.eu-west-1.amazonaws.com/c.pem"), 403,
         "refused: SigningCertURL is not an https URL of Amazon SNS\n"),
        (lambda b: b.update(Signature="AAAA"), 403, "refused: SNS signature does not verify\n"),
        (lambda b: b.pop("Signature"), 403, "refused: SNS signature does not verify\n"),
    ],
)  # fmt: skip
def test_forged_ses_notifications_are_refused(hooks: Hooks, tamper, status: int, text: str) -> None:
    body = sns("Notification", ses_bounce(hooks.sent, 1, "anna@example.com"))
    tamper(body)
    with hooks.client() as c:
        r = c.post("/webhooks/ses", json=body)
    assert (r.status_code, r.text) == (status, text)
    assert hooks.state() == (0, [])


def test_a_validly_signed_message_of_another_topic_or_too_old_is_refused(hooks: Hooks) -> None:
    other = sns("Notification", ses_bounce(hooks.sent, 1, "anna@example.com"))
    other["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    text = "".join(f"{k}\n{other[k]}\n" for k in SIGNED["Notification"] if k in other)
    other["Signature"] = base64.b64encode(
        KEY.sign(text.encode(), padding.PKCS1v15(), hashes.SHA1())
    ).decode()
    old = sns(
        "Notification",
        ses_bounce(hooks.sent, 1, "anna@example.com"),
        when=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    with hooks.client() as c:
        r1 = c.post("/webhooks/ses", json=other)
        r2 = c.post("/webhooks/ses", json=old)
    assert (r1.status_code, r1.text) == (
        403,
        "refused: TopicArn is not in [inbound] ses_topic_arns\n",
    )
    assert r2.status_code == 400
    assert r2.text.startswith("refused: event timestamp is 36")
    assert r2.text.endswith(" s away from now, outside the 300 s window (replay protection)\n")
    assert hooks.state() == (0, [])


def test_an_ses_subscription_is_confirmed(hooks: Hooks) -> None:
    body = sns(
        "SubscriptionConfirmation",
        "You have chosen to subscribe to the topic.",
        SubscribeURL=SUBSCRIBE_URL,
        Token="t0k",
    )
    with hooks.client() as c:
        r = c.post("/webhooks/ses", json=body)
    assert (r.status_code, r.text) == (200, "ok: 0 recorded; subscription confirmed\n")
    assert hooks.fetched == [CERT_URL, SUBSCRIBE_URL]


def test_an_ses_complaint_unsubscribes_and_suppresses(hooks: Hooks) -> None:
    message = json.dumps(
        {
            "notificationType": "Complaint",
            "complaint": {
                "feedbackId": "0102018c-cpl-13",
                "complainedRecipients": [{"emailAddress": "mia@example.com"}],
                "complaintFeedbackType": "abuse",
            },
            "mail": {
                "messageId": "x",
                "commonHeaders": {"messageId": f"<{UID}.13@isa.example.org>"},
            },
        }
    )
    with hooks.client() as c:
        assert c.post("/webhooks/ses", json=sns("Notification", message)).status_code == 200
    assert hooks.state() == (1, [("mia@example.com", "complaint")])


def test_postmark_needs_its_secret(hooks: Hooks) -> None:
    event = {"RecordType": "Bounce", "ID": 4711, "Type": "HardBounce", "TypeCode": 1,
             "Email": "gustav@example.com", "Details": "smtp;550 5.1.1 The email account "
             "that you tried to reach does not exist."}  # fmt: skip
    with hooks.client() as c:
        r = c.post("/webhooks/postmark", json=event, auth=("postmark", "wrong"))
        assert (r.status_code, r.text) == (401, "refused: missing or wrong credentials\n")
        assert c.post("/webhooks/postmark", json=event).status_code == 401
        assert hooks.state() == (0, [])
        r = c.post("/webhooks/postmark", json=event, auth=("postmark", "postmark secret"))
        assert (r.status_code, r.text) == (200, "ok: 1 recorded\n")
        assert (
            c.post(
                "/webhooks/postmark", json=event, auth=("postmark", "postmark secret")
            ).status_code
            == 409
        )
        complaint = {"RecordType": "SpamComplaint", "ID": 4712, "Type": "SpamComplaint",
                     "Email": "rosa@example.com"}  # fmt: skip
        r = c.post("/webhooks/postmark", json=complaint, auth=("postmark", "postmark secret"))
        assert r.status_code == 200
    assert hooks.state() == (
        2,
        [("gustav@example.com", "bounced"), ("rosa@example.com", "complaint")],
    )


def test_generic_webhook_hmac_window_and_replay(hooks: Hooks) -> None:
    event = {"id": "evt-1", "type": "bounce", "bounce_type": "soft",
             "recipient": "bert@example.com", "status": "4.2.2",
             "diagnostic": "452 4.2.2 mailbox full"}  # fmt: skip
    body = json.dumps(event).encode()

    def signed(timestamp: int, secret: bytes = b"generic secret") -> dict[str, str]:
        return {
            "X-Newsletter-Timestamp": str(timestamp),
            "X-Newsletter-Signature": generic_signature(secret, str(timestamp), body),
        }

    now = int(time.time())
    good, stale, forged = signed(now), signed(now - 3600), signed(now, b"guessed")
    with hooks.client() as c:
        assert c.post("/webhooks/generic", content=body).status_code == 401
        assert c.post("/webhooks/generic", content=body, headers=forged).status_code == 401
        assert c.post("/webhooks/generic", content=body, headers=stale).status_code == 400
        assert hooks.state() == (0, [])
        r = c.post("/webhooks/generic", content=body, headers=good)
        assert (r.status_code, r.text) == (200, "ok: 1 recorded\n")
        assert c.post("/webhooks/generic", content=body, headers=good).status_code == 409
    with hooks.sent.db.session() as s:
        row = s.exec(select(Bounce)).one()
        assert (row.kind, row.decision, row.score, row.attribution) == (
            "soft", "scored", 0.5, "relay-recipient",
        )  # fmt: skip


def test_webhooks_without_a_configured_secret_are_not_there(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_POSTMARK_WEBHOOK_SECRET")
    with hooks.client() as c:
        r = c.post("/webhooks/postmark", json={}, auth=("a", "b"))
    assert (r.status_code, r.text) == (
        404,
        "refused: webhook not configured: set $NEWSLETTER_POSTMARK_WEBHOOK_SECRET\n",
    )


class SilentHost:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: an SNS host
    that hangs, as seen from the certificate fetch."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.held.append(conn)
                self.accepted.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


def _get_time(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    r = client.get(path)
    assert r.status_code == 200
    return time.perf_counter() - started


def test_a_silent_certificate_host_does_not_delay_other_requests(hooks: Hooks) -> None:
    """The certificate is fetched outside the database's turn, with a short timeout, once.

    Before, the fetch ran inside the transaction: every database-backed route
    waited up to 10 s behind one forged post."""
    silent = SilentHost()
    local = f"https://127.0.0.1:{silent.port}/SimpleNotificationService-test.pem"
    fetched: list[str] = []

    def fetch(url: str) -> bytes:  # the real HTTPS fetch, pointed at the silent host
        fetched.append(url)
        return fetch_https(local)

    hooks.server.app.state.sns_verifier = SnsVerifier(fetch=fetch)
    path = f"/unsubscribe/{unsubscribe_token(token_key(hooks.sent.db.secret), 1, 1)}"
    body = sns("Notification", ses_bounce(hooks.sent, 1, "anna@example.com"))
    answers: list[tuple[httpx.Response, float]] = []

    def forged_post() -> None:
        started = time.perf_counter()
        with hooks.client() as c:
            answers.append((c.post("/webhooks/ses", json=body), time.perf_counter() - started))

    try:
        with hooks.client() as c:
            # the slowest of ten: a busy machine's spikes are in both series alike
            baseline = max(_get_time(c, path) for _ in range(10))
            poster = threading.Thread(target=forged_post)
            poster.start()
            assert silent.accepted.wait(5), "the certificate fetch did not start"
            during = [_get_time(c, path) for _ in range(10)]
            poster.join(FETCH_TIMEOUT + 10)
            assert max(during) - baseline < 0.100, (baseline, during)
            ((r, took),) = answers
            assert r.status_code == 403 and "cannot load the signing certificate" in r.text
            assert took < FETCH_TIMEOUT + 2.0  # the short timeout, not urllib's 10 s
            # The same URL again: refused at once from the cache of failures, no new fetch.
            started = time.perf_counter()
            again = c.post("/webhooks/ses", json=body)
            assert again.status_code == 403 and time.perf_counter() - started < 1.0
    finally:
        silent.close()
    assert fetched == [CERT_URL]
    assert hooks.state() == (0, [])


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.net;@sns.us-east-1.amazonaws.com/x.pem",
        "https://user@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us-east-1.amazonaws.com:443/x.pem",
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example.net/x.pem",
        "https://SNS.us-east-1.amazonaws.com/x.pem",
        "https://sns.evil-example.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.example.net/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem#@evil.example.net",
        "https://sns.us-east-1.amazonaws.com/x\t.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?u=https://evil.example.net",
    ],
)
def test_certificate_urls_off_the_sns_hosts_are_refused_unfetched(hooks: Hooks, url: str) -> None:
    body = sns("Notification", ses_bounce(hooks.sent, 1, "anna@example.com"), SigningCertURL=url)
    with hooks.client() as c:
        r = c.post("/webhooks/ses", json=body)
    assert r.status_code == 403, r.text
    assert "SigningCertURL is not" in r.text
    assert hooks.fetched == [] and hooks.state() == (0, [])
