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
    header = signed.split(b"\r\n\r\n")[0].decode().replace("\r\n ", " ")
    signed_names = re.search(r"\bh=([^;]+);", header).group(1)  # type: ignore[union-attr]
    assert signed_names == "From:To:Subject:Date:Message-ID:List-Unsubscribe:List-Unsubscribe-Post"


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
