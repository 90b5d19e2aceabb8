"""Relays' HTTP bounce and complaint events: Amazon SES (via SNS), Postmark, and a generic one.

Each event is authenticated first — SES by the SNS message signature (the
signing certificate fetched over HTTPS, only from an ``sns.<region>.amazonaws.com``
host, and only for a topic named in ``[inbound] ses_topic_arns``), Postmark by
a basic-auth secret, the generic endpoint by an HMAC-SHA256 over timestamp
and body — then checked against the replay window and the bounce table
(an event id is accepted once), and only then turned into the same
:class:`~newsletter.inbound.classify.Classification` a DSN would give, so
the same attribution and policy decide. Secrets come from the environment
and are compared in constant time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, select

from newsletter.config import Settings, read_secret
from newsletter.errors import BadInput
from newsletter.inbound.attribute import attribute
from newsletter.inbound.classify import Classification, Evidence
from newsletter.inbound.policy import Recorded, record
from newsletter.inbound.status import judge
from newsletter.inbound.tables import Bounce, Kind
from newsletter.tokens import TokenError, verify
from newsletter.tokens import token_key as make_token_key

POSTMARK_SECRET_ENV = "NEWSLETTER_POSTMARK_WEBHOOK_SECRET"
GENERIC_SECRET_ENV = "NEWSLETTER_WEBHOOK_SECRET"
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]\.amazonaws\.com(?:\.cn)?")
_MID = re.compile(r"<?([^<>\s]+@[^<>\s]+)>?")
_VERP = re.compile(r"\+([a-z0-9]+(?:-[a-z0-9]+)+)@")


class WebhookError(BadInput):
    """An event that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Event:
    """One recipient's bounce or complaint, as a relay reported it."""

    event_id: str
    kind: str  # hard | soft | complaint | other
    recipient: str
    status: str | None = None
    diagnostic: str | None = None
    message_ids: list[str] = field(default_factory=list)
    return_path: str | None = None
    permanent: bool = True


@dataclass(frozen=True)
class Outcome:
    """What a webhook call did: the rows recorded (empty for an event we ignore)."""

    recorded: list[Recorded]
    note: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def check_age(when: datetime, settings: Settings, now: datetime | None = None) -> None:
    """Refuse an event from outside the replay window (either direction)."""
    age = abs(((now or _now()) - when).total_seconds())
    if age > settings.inbound.webhook_max_age_seconds:
        raise WebhookError(
            f"event timestamp is {age:.0f} s away from now, outside the "
            f"{settings.inbound.webhook_max_age_seconds} s window (replay protection)"
        )


def _hash(provider: str, event: Event) -> str:
    return hashlib.sha256(f"{provider}\0{event.event_id}\0{event.recipient}".encode()).hexdigest()


def apply_events(
    session: Session, settings: Settings, provider: str, events: list[Event], raw: bytes
) -> Outcome:
    """Attribute and decide ``events`` exactly like mail; a replayed event id is refused."""
    hashes = [_hash(provider, e) for e in events]
    if hashes and session.exec(select(Bounce.id).where(Bounce.content_hash.in_(hashes))).first():  # type: ignore[attr-defined]
        raise WebhookError("event already received (replay)", status=409)
    key = make_token_key(session.info["database"].secret)
    done: list[Recorded] = []
    for event, content_hash in zip(events, hashes, strict=True):
        c = _classification(event, content_hash, key, settings)
        if c is None:
            continue
        target = attribute(session, c)
        if target is None:
            continue
        done.append(record(session, c, target, raw, f"webhook:{provider}", settings.inbound))
    return Outcome(done, "" if done else "no event about a delivery of ours")


def _classification(
    event: Event, content_hash: str, key: bytes, settings: Settings
) -> Classification | None:
    if event.kind not in ("hard", "soft", "complaint"):
        return None
    ev = Evidence(recipients=[event.recipient])
    domain = settings.organisation.sender_email.rpartition("@")[2].lower()
    for mid in event.message_ids:
        m = _MID.fullmatch(mid.strip())
        if m and m.group(1).lower().endswith("@" + domain):
            local = m.group(1).lower().rpartition("@")[0]
            uid, _, delivery = local.rpartition(".")
            if uid and delivery.isdigit():
                ev.message_ids.append((m.group(1).lower(), int(delivery)))
    if event.return_path:
        m = _VERP.search(event.return_path.lower())
        if m:
            with contextlib.suppress(TokenError, ValueError):
                ev.verp_deliveries.append(int(verify(key, "bounce", m.group(1))[0]))
    c = Classification(Kind.UNRELATED, content_hash, None, evidence=ev)
    if event.kind == "complaint":
        c.kind = Kind.COMPLAINT
        c.reasons.append("complaint reported by the relay")
        return c
    verdict = judge(event.status, event.diagnostic, permanent=event.kind == "hard")
    c.kind, c.scored = verdict.kind, verdict.scored
    c.status, c.diagnostic = event.status, event.diagnostic
    c.reasons.append(f"bounce reported by the relay: {verdict.reason}")
    return c


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError("body must be a JSON object")
    return data


def _timestamp(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookError(f"bad timestamp {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- Amazon SES through SNS -------------------------------------------------------------------

_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip


FETCH_TIMEOUT = 3.0  # seconds per network step of a certificate or subscription fetch
_FETCH_LIMIT = 65536
_CACHE_SIZE = 32
_FAILED_FOR = 60.0  # seconds a URL that failed is refused without fetching again
_PATH_CHARS = re.compile(r"[A-Za-z0-9._~/%?&=:+,;@!$'()*-]*")


def fetch_https(url: str, timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET ``url`` over HTTPS with certificate checks: no redirect, no proxy, 64 KiB at most.

    http.client rather than urllib: it connects to exactly the host that
    :meth:`SnsVerifier.check_url` checked and follows nothing.
    """
    import http.client
    import ssl

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPSConnection(
        parts.netloc, timeout=timeout, context=ssl.create_default_context()
    )
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "newsletter-webhooks"})
        response = conn.getresponse()
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        return response.read(_FETCH_LIMIT)
    finally:
        conn.close()


@dataclass
class SnsVerifier:
    """Checks SNS signatures; ``fetch`` gets a URL's bytes (HTTPS with certificate checks).

    ``host`` is the only host a certificate or a subscription URL may come
    from. Tests replace ``fetch`` to trust a local certificate; nothing else does.

    Fetching may wait on the network (``FETCH_TIMEOUT`` per step), so it
    never runs inside a database transaction (:func:`verify_ses` takes no
    session); at most ``fetches`` run at once, certificates are cached by
    URL, and a URL that failed is refused for ``_FAILED_FOR`` seconds
    without another attempt, so a flood of forged posts costs one fetch.
    """

    fetch: Callable[[str], bytes] = fetch_https
    host: re.Pattern[str] = SNS_HOST
    fetches: int = 4
    _certs: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    _failed: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.BoundedSemaphore | None = None

    def check_url(self, url: str, what: str) -> None:
        """``https://<host>/…`` exactly: no user info, no port, nothing a parser may read twice.

        The whole string is checked, not only what ``urlsplit`` makes of it:
        ``https://evil.example.net;@sns.us-east-1.amazonaws.com/x.pem`` has
        an SNS ``hostname`` for ``urlsplit`` and another host for others.
        """
        parts = urlsplit(url)
        if not (
            url.isascii()
            and parts.scheme == "https"
            and url.startswith("https://")
            and parts.netloc == parts.hostname  # no user info, no port, lower case
            and self.host.fullmatch(parts.netloc)
            and not parts.fragment
            and _PATH_CHARS.fullmatch(url[len("https://") + len(parts.netloc) :])
        ):
            raise WebhookError(f"{what} is not an https URL of Amazon SNS", status=403)

    def get(self, url: str, what: str) -> bytes:
        """``fetch(url)``, refused at once when too many are under way or it failed lately."""
        with self._lock:
            if self._slots is None:
                self._slots = threading.BoundedSemaphore(self.fetches)
            failed = self._failed.get(url)
            if failed is not None and time.monotonic() - failed < _FAILED_FOR:
                raise WebhookError(f"cannot load the {what}: it failed a moment ago", 403)
        if not self._slots.acquire(blocking=False):
            raise WebhookError(f"too many {what} fetches at once; try again", status=503)
        try:
            return self.fetch(url)
        except OSError as exc:
            with self._lock:
                self._failed[url] = time.monotonic()
                while len(self._failed) > _CACHE_SIZE:
                    del self._failed[next(iter(self._failed))]
            raise WebhookError(f"cannot load the {what}: {exc}", 403) from exc
        finally:
            self._slots.release()

    def certificate(self, url: str) -> Any:
        from cryptography import x509

        self.check_url(url, "SigningCertURL")
        if not urlsplit(url).path.endswith(".pem") or urlsplit(url).query:
            raise WebhookError("SigningCertURL is not a .pem file", status=403)
        with self._lock:
            if url in self._certs:
                self._certs.move_to_end(url)
                return self._certs[url]
        data = self.get(url, "signing certificate")
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise WebhookError(f"cannot load the signing certificate: {exc}", 403) from exc
        with self._lock:
            self._certs[url] = cert
            while len(self._certs) > _CACHE_SIZE:
                self._certs.popitem(last=False)
        return cert

    def verify(self, message: dict[str, Any]) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        fields = _SIGNED.get(str(message.get("Type")))
        if fields is None:
            raise WebhookError(f"unknown SNS message type {message.get('Type')!r}")
        text = "".join(
            f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None
        )
        version = str(message.get("SignatureVersion"))
        algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
        if algorithm is None:
            raise WebhookError(f"unknown SNS SignatureVersion {version!r}", status=403)
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except ValueError:
            raise WebhookError("SNS signature is not base64", status=403) from None
        cert = self.certificate(str(message.get("SigningCertURL", "")))
        try:
            cert.public_key().verify(signature, text.encode(), padding.PKCS1v15(), algorithm)
        except (InvalidSignature, TypeError, ValueError):
            raise WebhookError("SNS signature does not verify", status=403) from None


def ses_events(notification: dict[str, Any]) -> list[Event]:
    """The per-recipient events of one SES notification (bounce or complaint)."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") or {}
    mids = [
        str(h.get("value", ""))
        for h in mail.get("headers", [])
        if str(h.get("name", "")).lower() == "message-id"
    ]
    common = (mail.get("commonHeaders") or {}).get("messageId")
    if common:
        mids.append(str(common))
    return_path = mail.get("source")
    events = []
    if kind == "Bounce":
        b = notification.get("bounce") or {}
        permanent = b.get("bounceType") == "Permanent"
        for r in b.get("bouncedRecipients") or []:
            events.append(
                Event(
                    str(b.get("feedbackId") or mail.get("messageId")),
                    "hard" if permanent else "soft",
                    str(r.get("emailAddress", "")),
                    r.get("status"),
                    r.get("diagnosticCode") or f"{b.get('bounceType')}/{b.get('bounceSubType')}",
                    mids,
                    return_path,
                    permanent,
                )
            )
    elif kind == "Complaint":
        cpl = notification.get("complaint") or {}
        for r in cpl.get("complainedRecipients") or []:
            events.append(
                Event(
                    str(cpl.get("feedbackId") or mail.get("messageId")),
                    "complaint",
                    str(r.get("emailAddress", "")),
                    message_ids=mids,
                    return_path=return_path,
                )
            )
    return events


def verify_ses(settings: Settings, body: bytes, verifier: SnsVerifier) -> dict[str, Any]:
    """The SNS message of a ``POST /webhooks/ses`` once it is authentic, or ``WebhookError``.

    Takes no database session on purpose: the certificate (or, for a
    subscription, the SubscribeURL) may have to be fetched, and a request
    that waits on the network must not hold the database's turn.
    """
    message = _json(body)
    verifier.verify(message)
    topics = settings.inbound.ses_topic_arns
    if str(message.get("TopicArn")) not in topics:
        raise WebhookError("TopicArn is not in [inbound] ses_topic_arns", status=403)
    check_age(_timestamp(message.get("Timestamp")), settings)
    if message["Type"] == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        verifier.check_url(url, "SubscribeURL")
        verifier.get(url, "SubscribeURL")
    return message


def apply_ses(
    session: Session, settings: Settings, message: dict[str, Any], body: bytes
) -> Outcome:
    """Apply a message :func:`verify_ses` returned: a notification's events, or a note."""
    if message["Type"] == "SubscriptionConfirmation":
        return Outcome([], "subscription confirmed")
    if message["Type"] == "UnsubscribeConfirmation":
        return Outcome([], "unsubscribe confirmation noted")
    try:
        notification = json.loads(str(message.get("Message")))
    except ValueError:
        raise WebhookError("SNS Message is not a JSON SES notification") from None
    if not isinstance(notification, dict):
        raise WebhookError("SNS Message is not a JSON SES notification")
    events = ses_events(notification)
    for e in events:
        e.event_id = f"{message.get('MessageId')}:{e.event_id}"
    return apply_events(session, settings, "ses", events, body)


# -- Postmark -----------------------------------------------------------------------------------


def _secret(name: str) -> bytes:
    value = read_secret(name)
    if not value:
        raise WebhookError(f"webhook not configured: set ${name}", status=404)
    return value.encode()


def check_basic_auth(header: str | None, secret: bytes) -> None:
    """``Authorization: Basic …`` whose password is ``secret`` (any user name)."""
    scheme, _, value = (header or "").partition(" ")
    try:
        password = base64.b64decode(value, validate=True).partition(b":")[2]
    except ValueError:
        password = b""
    if scheme.lower() != "basic" or not hmac.compare_digest(password, secret):
        raise WebhookError("missing or wrong credentials", status=401)


_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange"}
_POSTMARK_IGNORED = {"AutoResponder", "OpenRelayTest", "Subscribe", "ChallengeVerification"}


def postmark_events(data: dict[str, Any]) -> list[Event]:
    record_type = data.get("RecordType")
    event_id = str(data.get("ID") or data.get("MessageID") or "")
    recipient = str(data.get("Email") or data.get("Recipient") or "")
    if not event_id or not recipient:
        raise WebhookError("Postmark event without ID or Email")
    if record_type == "SpamComplaint" or data.get("Type") == "SpamComplaint":
        return [Event(event_id, "complaint", recipient)]
    if record_type != "Bounce" or data.get("Type") in _POSTMARK_IGNORED:
        return []
    hard = data.get("Type") in _POSTMARK_HARD
    details = str(data.get("Details") or data.get("Description") or "")
    return [Event(event_id, "hard" if hard else "soft", recipient, None, details, permanent=hard)]


def handle_postmark(
    session: Session, settings: Settings, body: bytes, authorization: str | None
) -> Outcome:
    """``POST /webhooks/postmark``: basic auth, then apply the bounce or complaint."""
    check_basic_auth(authorization, _secret(POSTMARK_SECRET_ENV))
    return apply_events(session, settings, "postmark", postmark_events(_json(body)), body)


# -- generic ------------------------------------------------------------------------------------


def generic_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``timestamp.body``, what a sender puts in X-Newsletter-Signature."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def handle_generic(
    session: Session,
    settings: Settings,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
) -> Outcome:
    """``POST /webhooks/generic``: HMAC-SHA256 over ``timestamp.body``, window, then apply.

    Body: ``{"id", "type": "bounce"|"complaint", "recipient", "bounce_type": "hard"|"soft",
    "status", "diagnostic", "message_id"}``.
    """
    secret = _secret(GENERIC_SECRET_ENV)
    if not timestamp or not signature:
        raise WebhookError("missing X-Newsletter-Timestamp or X-Newsletter-Signature", 401)
    expected = generic_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookError("signature does not verify", status=401)
    try:
        when = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookError("X-Newsletter-Timestamp must be Unix seconds", 401) from None
    check_age(when, settings)
    data = _json(body)
    recipient, event_id = str(data.get("recipient") or ""), str(data.get("id") or "")
    if not recipient or not event_id:
        raise WebhookError("event needs id and recipient")
    if data.get("type") == "complaint":
        kind = "complaint"
    elif data.get("type") == "bounce":
        kind = "hard" if data.get("bounce_type", "hard") == "hard" else "soft"
    else:
        raise WebhookError('type must be "bounce" or "complaint"')
    mids = [str(data["message_id"])] if data.get("message_id") else []
    event = Event(
        event_id, kind, recipient, data.get("status"), data.get("diagnostic"), mids,
        permanent=kind == "hard",
    )  # fmt: skip
    return apply_events(session, settings, "generic", [event], body)
