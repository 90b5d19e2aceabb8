"""Amazon SES events through SNS: the message signature, its certificate, the notification.

The certificate (and a subscription's SubscribeURL) is fetched over HTTPS
from ``https://sns.<region>.amazonaws.com/…`` exactly, and
:func:`verify_ses` does that before any database work, so a host that
hangs delays only its own request; :func:`apply_ses` then feeds the events
to :func:`newsletter.inbound.webhooks.apply_events` like every relay's.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from newsletter.config import Settings
from newsletter.inbound.webhooks import (
    Event,
    Outcome,
    WebhookError,
    apply_events,
    check_age,
    json_object,
    parse_timestamp,
)

SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]\.amazonaws\.com(?:\.cn)?")

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
    message = json_object(body)
    verifier.verify(message)
    topics = settings.inbound.ses_topic_arns
    if str(message.get("TopicArn")) not in topics:
        raise WebhookError("TopicArn is not in [inbound] ses_topic_arns", status=403)
    check_age(parse_timestamp(message.get("Timestamp")), settings)
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
