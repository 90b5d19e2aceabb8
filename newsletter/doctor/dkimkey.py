"""DKIM: does the key in DNS belong to the configured private key, and does a message we sign
verify with it?

The probe is signed by the same signer campaigns use (``message/dkim.py``) and verified with
dkimpy against the record just fetched, so a record that is present but truncated by a DNS
panel, split wrongly, or left over from an older key shows up here and not as "dkim=fail" in
a reader's spam folder.
"""

from __future__ import annotations

import base64
import email
import re

from newsletter.doctor.findings import Finding
from newsletter.errors import ConfigError
from newsletter.message.dkim import DkimSigner

_PROBE = (
    b"From: doctor@{domain}\r\nTo: probe@example.org\r\nSubject: probe\r\n"
    b"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <probe@{domain}>\r\n"
    b"List-Unsubscribe: <https://{domain}/unsubscribe/probe>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nprobe\r\n"
)


def _tags(text: str) -> dict[str, str]:
    pairs = (p.partition("=") for p in text.split(";") if "=" in p)
    return {k.strip().lower(): re.sub(r"\s+", "", v) for k, _, v in pairs}


def public_key_record(public_der: bytes) -> str:
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public_der).decode()}"


def check_dkim_key(private_pem: bytes, name: str, records: list[str]) -> list[Finding]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        return [Finding("dkim", "error", f"the DKIM key file is not a PEM key: {exc}")]
    if not isinstance(key, rsa.RSAPrivateKey):
        return [Finding("dkim", "error", "the DKIM key is not an RSA key")]
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    publish = f'publish {name} TXT "{public_key_record(der)}"'
    found = []
    if key.key_size < 2048:
        found.append(
            Finding(
                "dkim",
                "error" if key.key_size < 1024 else "warning",
                f"the DKIM key has {key.key_size} bits; receivers expect 2048",
                "make a new key: openssl genrsa -out dkim.pem 2048 (new selector, then rotate)",
            )
        )
    keys = [_tags(r) for r in records if "p=" in r]
    if not keys:
        return [*found, Finding("dkim", "error", f"no DKIM key at {name}", publish)]
    if len(keys) > 1:
        return [*found, Finding("dkim", "error", f"{name} has {len(keys)} DKIM records", publish)]
    tags = keys[0]
    if not tags.get("p"):
        return [
            *found,
            Finding("dkim", "error", f"the key at {name} is revoked (empty p=)", publish),
        ]
    try:
        published = base64.b64decode(tags["p"], validate=True)
    except ValueError:
        return [*found, Finding("dkim", "error", f"the key at {name} is not valid base64", publish)]
    if published != der:
        return [
            *found,
            Finding(
                "dkim",
                "error",
                f"the key at {name} is not the public half of the configured key_file",
                publish,
            ),
        ]
    if "y" in tags.get("t", "").split(":"):
        found.append(
            Finding(
                "dkim",
                "warning",
                f"{name} is in testing mode (t=y): receivers may treat failures as unsigned",
                "remove t=y from the record",
            )
        )
    found += _probe(private_pem, name, records[0] if len(records) == 1 else records)
    return found


def _probe(private_pem: bytes, name: str, record: object) -> list[Finding]:
    import dkim  # type: ignore[import-untyped]

    selector, _, domain = name.partition("._domainkey.")
    try:
        signer = DkimSigner(selector, domain, private_pem)
    except ConfigError as exc:
        return [Finding("dkim", "error", str(exc))]
    signed = signer(_PROBE.replace(b"{domain}", domain.encode()))
    txt = str(record).encode()

    def dnsfunc(qname: bytes | str, timeout: int = 5) -> bytes:
        return txt

    if not dkim.verify(signed, dnsfunc=dnsfunc):
        return [Finding("dkim", "error", f"a probe signed with the key does not verify at {name}")]
    signature = str(email.message_from_bytes(signed)["DKIM-Signature"])
    signed_names = {h.strip().lower() for h in _tags(signature).get("h", "").split(":")}
    missing = [h for h in ("list-unsubscribe", "list-unsubscribe-post") if h not in signed_names]
    if missing:
        return [
            Finding(
                "dkim",
                "error",
                f"the signature does not cover {', '.join(missing)} (RFC 8058 requires it)",
                "upgrade newsletter",
            )
        ]
    return [Finding("dkim", "ok", f"{name}: a probe message signed with key_file verifies")]
