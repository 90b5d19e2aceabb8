"""Relays' HTTP bounce and complaint events: Amazon SES (via SNS), Postmark, and a generic one.

Each event is authenticated first — SES by the SNS message signature (the
signing certificate fetched over HTTPS, only from an ``sns.<region>.amazonaws.com``
host, and only for a topic named in ``[inbound] ses_topic_arns``), Postmark by
a basic-auth secret, the generic endpoint by an HMAC-SHA256 over timestamp
and body — then checked against the replay window and the bounce table
(an event id is accepted once), and only then turned into the same
:class:`~newsletter.inbound.classify.Classification` a DSN would give, so
the same attribution and policy decide. Secrets come from the environment
and are compared in constant time. SES's signature checks are
:mod:`newsletter.inbound.ses`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from newsletter.config import Settings, read_secret
from newsletter.errors import BadInput
from newsletter.inbound.attribute import attribute
from newsletter.inbound.classify import Classification, Evidence
from newsletter.inbound.policy import Recorded, record
from newsletter.inbound.status import judge
from newsletter.inbound.tables import Bounce, Kind
from newsletter.tokens import TokenError, message_id_verifies, verify
from newsletter.tokens import token_key as make_token_key

POSTMARK_SECRET_ENV = "NEWSLETTER_POSTMARK_WEBHOOK_SECRET"
GENERIC_SECRET_ENV = "NEWSLETTER_WEBHOOK_SECRET"
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
        if not target.verified:
            # The relay's signed event is itself the evidence of whom it mailed.
            how = "relay-recipient" if target.how == "dsn-recipient" else target.how
            target = replace(target, how=how, verified=True)
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
            parts = local.split(".")
            if len(parts) == 3 and parts[1].isdigit() and len(parts[1]) < 19:
                if message_id_verifies(key, int(parts[1]), parts[2]):
                    ev.message_ids.append((m.group(1).lower(), int(parts[1])))
                else:
                    ev.forged.append(f"Message-ID {m.group(1)} fails verification")
            elif len(parts) == 2 and parts[1].isdigit() and len(parts[1]) < 19:
                ev.unsigned_ids.append((m.group(1).lower(), int(parts[1])))
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
    c.kind, c.scored, c.reason = verdict.kind, verdict.scored, verdict.reason.value
    c.status, c.diagnostic = event.status, event.diagnostic
    c.reasons.append(f"bounce reported by the relay: {verdict}")
    return c


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError("body must be a JSON object")
    return data


def parse_timestamp(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookError(f"bad timestamp {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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
    return apply_events(session, settings, "postmark", postmark_events(json_object(body)), body)


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
    data = json_object(body)
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
