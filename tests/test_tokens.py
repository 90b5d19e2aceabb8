"""Link and bounce tokens: what a tampered or foreign token does (raises TokenError)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from newsletter.tokens import TokenError, bounce_token, token_key, unsubscribe_token, verify

KEY = token_key(b"test secret")


def test_tokens_in_mail_already_sent_stay_the_same() -> None:
    # links in delivered newsletters must keep working after any speed-up
    assert unsubscribe_token(KEY, 12, 3) == "12-3-anqimi4cwgmo7fl4sexf2xsh"
    assert bounce_token(KEY, 99) == "99-2tlhl3btuaymp7foqcehojld"
    for n in range(200):
        mac = hmac.new(KEY, digestmod=hashlib.sha256)
        mac.update(f"unsubscribe\0{n}-7".encode())
        expected = base64.b32encode(mac.digest()[:15]).decode().lower()
        assert unsubscribe_token(KEY, n, 7) == f"{n}-7-{expected}"


def test_a_token_survives_case_folding_and_blanks() -> None:
    token = unsubscribe_token(KEY, 12, 3)
    assert verify(KEY, "unsubscribe", f" {token.upper()}\n") == ["12", "3"]
    assert verify(KEY, "bounce", bounce_token(KEY, 99)) == ["99"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + "ä",  # non-ASCII where the MAC goes
        lambda t: t.replace("-", "\u2010"),  # a Unicode hyphen
        lambda t: t + "-",
        lambda t: "-" + t,
        lambda t: t.replace("-", "--", 1),
        lambda t: t.rpartition("-")[2],  # the MAC alone
        lambda t: "",
    ],
)
def test_malformed_tokens_are_token_errors(mangle) -> None:  # type: ignore[no-untyped-def]
    token = unsubscribe_token(KEY, 12, 3)
    with pytest.raises(TokenError, match="invalid or expired link token"):
        verify(KEY, "unsubscribe", mangle(token))


def test_a_token_is_bound_to_its_key_and_purpose() -> None:
    token = unsubscribe_token(KEY, 12, 3)
    with pytest.raises(TokenError):
        verify(token_key(b"another secret"), "unsubscribe", token)
    with pytest.raises(TokenError):
        verify(KEY, "bounce", token)


def test_a_look_alike_that_lowers_to_ascii_is_refused() -> None:
    # "\u212a" (Kelvin sign) lower-cases to "k"
    token = next(t for i in range(1000) if "k" in (t := unsubscribe_token(KEY, i, 3)))
    with pytest.raises(TokenError):
        verify(KEY, "unsubscribe", token.replace("k", "\u212a"))
