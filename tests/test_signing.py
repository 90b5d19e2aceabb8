"""Our OpenSSL-backed DKIM signer, verified by an independent implementation (dkimpy)."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import dkim
import pytest

from newsletter.errors import ConfigError
from newsletter.message.dkim import DkimSigner


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[bytes, bytes]:
    path = tmp_path_factory.mktemp("dkim") / "key.pem"
    genrsa = ["openssl", "genrsa", "-out", str(path), "2048"]
    subprocess.run(genrsa, check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return path.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


MESSAGE = (
    b"From: =?utf-8?q?F=C3=B6rderer?= <news@example.org>\r\n"
    b"To: reader@example.com\r\n"
    b"Subject:   A  subject\r\n\t folded   over lines \r\n"
    b"Date: Sat, 28 Nov 2026 20:00:00 +0000\r\n"
    b"Message-ID: <1.2@example.org>\r\n"
    b"List-Unsubscribe: <https://example.org/u/abc>,\r\n <mailto:u@example.org?subject=x>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"X-Not-Signed: anything\r\n"
    b"\r\n"
    b"Body line one \r\n\r\n.leading dot\r\n\r\n\r\n"
)


def test_signature_verifies_with_dkimpy(key) -> None:
    private, record = key
    signed = DkimSigner("sel", "example.org", private)(MESSAGE)
    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    assert _signed_names(signed) == [
        "From", "From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
        "List-Unsubscribe-Post", "List-Unsubscribe-Post",
    ]  # fmt: skip


def _signed_names(signed: bytes) -> list[str]:
    header = signed.split(b"\r\n\r\n")[0].decode()
    tags = re.search(r"\bh=([^;]+);", header).group(1)  # type: ignore[union-attr]
    return re.split(r"\s*:\s*", tags.strip())


def test_from_and_one_click_are_oversigned(key) -> None:
    """h= names From and List-Unsubscribe-Post once more than the message has them (RFC 6376
    §8.15), so neither can be added after signing; fails on the signer that listed each once."""
    private, record = key
    signer = DkimSigner("sel", "example.org", private)
    signed = signer(MESSAGE)
    names = _signed_names(signed)
    assert names.count("From") == 2 and names.count("List-Unsubscribe-Post") == 2
    dns = lambda name, timeout=5: record  # noqa: E731
    assert dkim.verify(signed, dnsfunc=dns)
    # Prepended, where a verifier that counts From once would still find ours at the bottom.
    assert not dkim.verify(b"From: Bank <security@example.net>\r\n" + signed, dnsfunc=dns)
    # A mail without one-click (a confirmation) still signs the field's absence.
    plain = MESSAGE.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b"")
    signed_plain = signer(plain)
    assert _signed_names(signed_plain).count("List-Unsubscribe-Post") == 1
    assert dkim.verify(signed_plain, dnsfunc=dns)
    added = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" + signed_plain
    assert not dkim.verify(added, dnsfunc=dns)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"abc>", b"abd>"),  # the unsubscribe link in a signed header
        (b"Body line one", b"Body line two"),  # the body
        (b"One-Click", b"One-click"),  # RFC 8058 header
    ],
)
def test_tampering_breaks_the_signature(key, old: bytes, new: bytes) -> None:
    private, record = key
    signed = DkimSigner("sel", "example.org", private)(MESSAGE)
    assert not dkim.verify(signed.replace(old, new, 1), dnsfunc=lambda name, timeout=5: record)


def test_whitespace_changes_allowed_by_relaxed_headers_still_verify(key) -> None:
    private, record = key
    signed = DkimSigner("sel", "example.org", private)(MESSAGE)
    relaxed = signed.replace(b"Subject:   A  subject", b"Subject: A subject", 1)
    assert dkim.verify(relaxed, dnsfunc=lambda name, timeout=5: record)


def test_bad_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DKIM key is not an unencrypted PEM key"):
        DkimSigner("sel", "example.org", b"not a key")
