"""Address validation: the fast path must agree with email-validator exactly."""

from __future__ import annotations

import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email

from newsletter.subscribers.addresses import AddressError, _fast_path, parse_address

HAND_PICKED = [
    "anna@example.org",
    "Anna.Mueller@EXAMPLE.org",
    "a+tag@example.com",
    "o'neil@example.net",
    "Postmaster@Example.ORG",
    "INFO@example.com",
    "x@sub.example.org",
    "a@b.c1",
    "a@example.1",
    "a@example.c-m",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@-example.org",
    "a@example-.org",
    "a@ex--ample.org",
    "a@xn--bcher-kva.example.org",
    "a@bücher.example.org",
    "a@example.test",
    "a@example.local",
    "a@localhost",
    "a@example",
    "a@[192.0.2.1]",
    '"a b"@example.org',
    "a b@example.org",
    "a@example.org.",
    "jürgen@example.org",
    "用户@例子.example.org",
    "a@" + "b" * 63 + ".org",
    "a@" + "b" * 64 + ".org",
    "x" * 64 + "@example.org",
    "x" * 250 + "@example.org",
    "a@example.arpa",
    "{x}|~@example.org",
    "a@EXAMPLE.ORG",
    "a@ex_ample.org",
    "a@example.org\n",
    "Name <a@example.org>",
    "@example.org",
    "a@",
    "a@@example.org",
    "a@b@example.org",
    "a\u200b@example.org",
    "a@exämple.org",
]
ALPHABET = string.ascii_letters + string.digits + ".-_+@!#$%&'*=?^`{|}~/ \"()<>,;:[]\\üé中"


def _reference(text: str) -> tuple[str, str] | None:
    try:
        v = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return v.normalized, f"{v.local_part.lower()}@{v.ascii_domain}"


def _generated(n: int) -> list[str]:
    rnd = random.Random(20240601)
    locals_ = [
        "anna",
        "Bob.Smith",
        "x",
        "postmaster",
        "Info",
        "a+b",
        "o'neil",
        "a..b",
        ".a",
        "a.",
        "-a",
        "a-",
        "ABUSE",
    ]
    domains = [
        "example.org",
        "EXAMPLE.com",
        "ex-ample.net",
        "ab--cd.example.org",
        "xn--bcher-kva.example",
        "a.b",
        "example.test",
        "example.local",
        "example.c1",
        "example.1a",
        "localhost",
        "a-.example.org",
        "-a.example.org",
        "example.org.",
        "sub.example.net",
        "a" * 63 + ".org",
        "a" * 64 + ".org",
        "e.x.a.m.p.l.e",
        "1.2.3.4",
        "example.co-m",
    ]
    out = []
    for _ in range(n):
        if rnd.random() < 0.4:
            out.append("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 20))))
            continue
        s = f"{rnd.choice(locals_)}@{rnd.choice(domains)}"
        if rnd.random() < 0.3:
            i = rnd.randrange(len(s) + 1)
            s = s[:i] + rnd.choice(ALPHABET) + s[i:]
        out.append(s)
    return out


@pytest.mark.parametrize("text", HAND_PICKED)
def test_parse_address_agrees_with_email_validator(text: str) -> None:
    expected = _reference(text.strip())
    if expected is None:
        with pytest.raises(AddressError):
            parse_address(text)
    else:
        addr = parse_address(text)
        assert (addr.email, addr.key) == expected


def test_fast_path_never_accepts_what_email_validator_rejects() -> None:
    inputs = HAND_PICKED + _generated(20_000)
    accepted = 0
    for text in inputs:
        fast = _fast_path(text)
        if fast is None:
            continue
        accepted += 1
        assert _reference(text) == (fast.email, fast.key), text
    assert accepted > 3_000  # the fast path really is the common path


def test_keys_deduplicate_case_and_idn_forms() -> None:
    assert parse_address("Anna@Example.ORG").key == parse_address("anna@example.org").key
    assert parse_address("Anna@Example.ORG").email == "Anna@example.org"  # local part kept
    idn = parse_address("kurt@bücher.example.org")
    assert idn.key == parse_address("KURT@xn--bcher-kva.example.org").key
    assert idn.key == "kurt@xn--bcher-kva.example.org"
    assert idn.email == "kurt@bücher.example.org"
    assert parse_address("straße@example.org").key != parse_address("strasse@example.org").key


def test_role_addresses_are_flagged() -> None:
    assert parse_address("Postmaster@example.org").is_role
    assert parse_address("abuse@example.com").is_role
    assert not parse_address("anna@example.org").is_role


def test_errors_say_why() -> None:
    with pytest.raises(AddressError) as caught:
        parse_address("anna@example..org")
    assert str(caught.value) == (
        "invalid address 'anna@example..org': An email address cannot have two periods in a row."
    )
    with pytest.raises(AddressError, match="missing address"):
        parse_address("  ")
