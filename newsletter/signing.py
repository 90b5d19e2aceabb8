"""DKIM signing with dkimpy, configured by the ``[dkim]`` section.

Signing is per message because the signed headers (To, Message-ID,
List-Unsubscribe) and the footer's unsubscribe link differ per recipient.
The signed header set includes the RFC 8058 pair, so a receiver can trust
that ``List-Unsubscribe-Post`` came from us (RFC 8058 §4 requires that).
"""

from __future__ import annotations

import dkim

from newsletter.config import Settings
from newsletter.errors import ConfigError

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
)


class DkimSigner:
    """Callable that returns the message with a ``DKIM-Signature`` header prepended."""

    def __init__(self, selector: str, domain: str, private_key: bytes):
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self.private_key = private_key

    def __call__(self, message: bytes) -> bytes:
        try:
            header = dkim.sign(
                message,
                self.selector,
                self.domain,
                self.private_key,
                canonicalize=(b"relaxed", b"simple"),
                include_headers=list(SIGNED_HEADERS),
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"DKIM signing failed: {exc}", file="[dkim]") from exc
        return header + message


def signer_from_settings(settings: Settings) -> DkimSigner | None:
    """The configured signer, or None when ``[dkim]`` names no key file."""
    conf = settings.dkim
    if not conf.key_file:
        return None
    if not conf.selector:
        raise ConfigError("dkim.selector is required with dkim.key_file", file=str(settings.source))
    path = settings.path(conf.key_file)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read DKIM key: {exc.strerror}", file=str(path)) from exc
    domain = conf.domain or settings.organisation.sender_email.rpartition("@")[2]
    return DkimSigner(conf.selector, domain, key)
