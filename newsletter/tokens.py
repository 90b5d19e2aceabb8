"""HMAC-signed tokens for the unsubscribe link and the VERP bounce address.

A token names a few small values (subscriber and list ids, a delivery id) and
carries a MAC, so the web app can act on ``/unsubscribe/<token>`` without a
login and without a lookup table, and a bounce to ``bounces+<token>@domain``
can be attributed without trusting its sender. Tokens hold ids, never
addresses, so a forwarded newsletter leaks nothing about its reader.

Tokens use only ``[a-z0-9-]``: they are case-insensitive safe (some MTAs fold
the local part of an address), need no URL escaping and survive
quoted-printable unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import Any

from newsletter.errors import BadInput

_PART = re.compile(r"[a-z0-9]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
_MAC_BYTES = 15  # 120 bits: forging is hopeless, and it base32-encodes without padding


class TokenError(BadInput):
    """A token was altered, truncated or signed with another key."""


def token_key(secret: bytes) -> bytes:
    """Derive the token key from the database secret (``Database.secret``).

    One secret per installation, but a key of its own for tokens, so a token
    MAC can never be confused with an address hash made from the same secret.
    """
    return hmac.new(secret, b"newsletter tokens v1", hashlib.sha256).digest()


@functools.lru_cache(maxsize=16)
def _keyed(key: bytes) -> Any:
    """The HMAC state after the key: copying it is cheaper than keying again per token."""
    return hmac.new(key, digestmod=hashlib.sha256)


# Every pair of lowercase base32 digits: the MAC's 120 bits are 12 look-ups,
# the same text as base64.b32encode(…).lower() at a fraction of its cost (a
# sender makes a token per message).
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = [a + b for a in _B32 for b in _B32]
_SHIFTS = tuple(range(_MAC_BYTES * 8 - 10, -1, -10))


def _mac(key: bytes, purpose: str, payload: str) -> str:
    mac = _keyed(key).copy()
    mac.update(f"{purpose}\0{payload}".encode())
    bits = int.from_bytes(mac.digest()[:_MAC_BYTES], "big")
    return "".join([_B32_PAIRS[(bits >> shift) & 1023] for shift in _SHIFTS])


def sign(key: bytes, purpose: str, *parts: str | int) -> str:
    """Return ``part-part-…-mac``; ``purpose`` keeps a bounce token from unsubscribing."""
    texts = [str(p) for p in parts]
    for part, text in zip(parts, texts, strict=True):
        if not (type(part) is int and part >= 0) and not _PART.fullmatch(text):
            raise ValueError(f"token parts must be lowercase letters and digits: {text!r}")
    payload = "-".join(texts)
    return f"{payload}-{_mac(key, purpose, payload)}"


def verify(key: bytes, purpose: str, token: str) -> list[str]:
    """Return the parts of a valid token, or raise ``TokenError``."""
    # The shape first: compare_digest refuses non-ASCII text with a TypeError,
    # and lower() would fold look-alikes such as the Kelvin sign into ASCII.
    token = token.strip()
    if not token.isascii():
        raise TokenError("invalid or expired link token")
    token = token.lower()
    if not _TOKEN.fullmatch(token):
        raise TokenError("invalid or expired link token")
    payload, _, mac = token.rpartition("-")
    if not hmac.compare_digest(mac, _mac(key, purpose, payload)):
        raise TokenError("invalid or expired link token")
    return payload.split("-")


def unsubscribe_token(key: bytes, subscriber_id: int, list_id: int) -> str:
    """The token in every unsubscribe URL: one subscriber on one list."""
    return sign(key, "unsubscribe", subscriber_id, list_id)


def bounce_token(key: bytes, delivery_id: int) -> str:
    """The token in a VERP return path: one delivery attempt's envelope."""
    return sign(key, "bounce", delivery_id)


MESSAGE_ID_MAC_LENGTH = 10  # 50 bits: a guess per forged report, so far beyond reach


def message_id_mac(key: bytes, delivery_id: int) -> str:
    """The short MAC in our campaign Message-IDs (``<uid>.<delivery id>.<mac>@domain``).

    It makes a Message-ID in a returned message evidence: anyone who received
    one of our messages knows the shape and could write another delivery's id
    into it, but not that delivery's MAC.
    """
    return _mac(key, "message-id", str(delivery_id))[:MESSAGE_ID_MAC_LENGTH]


def message_id_verifies(key: bytes, delivery_id: int, mac: str) -> bool:
    """Whether ``mac`` is the Message-ID MAC of ``delivery_id`` (constant-time compare)."""
    if not mac.isascii():
        return False
    return hmac.compare_digest(mac.lower(), message_id_mac(key, delivery_id))


def confirm_token(key: bytes, signup_id: int) -> str:
    """The token in a confirmation mail; it expires with its sign-up (``[web] confirm_days``)."""
    return sign(key, "confirm", signup_id)


def csrf_token(key: bytes, nonce: str) -> str:
    """The hidden form field that must match the CSRF cookie's ``nonce``."""
    return sign(key, "csrf", nonce)


def ids(key: bytes, purpose: str, token: str, count: int) -> list[int]:
    """The ``count`` integer ids a valid token of ``purpose`` names, or ``TokenError``.

    A token of the right purpose but the wrong shape (say a hand-made one with
    three parts) is as invalid as a forged one.
    """
    parts = verify(key, purpose, token)
    if len(parts) != count or not all(p.isdigit() and len(p) < 19 for p in parts):
        raise TokenError("invalid or expired link token")
    return [int(p) for p in parts]
