"""Email address validation, normalisation and the de-duplication key.

Validation is email-validator's: syntax and normalisation only (this machine
is offline), DNS checks with ``check_deliverability=True``. It costs about
75 µs per address, too slow for a million-row import, so :func:`parse_address`
first tries :func:`_fast_path`: a strict regular expression for the common
all-ASCII shape plus the few extra rules email-validator applies to it. The
fast path only ever *accepts*; anything unusual (Unicode, IDN, quotes, ``--``
in the domain, special-use names) goes to email-validator.
``tests/test_subscribers_addresses.py`` checks both paths agree on thousands
of generated and hand-picked inputs.

The key: the domain is compared case-insensitively in its ASCII (IDNA) form,
so ``bücher.example.org`` and ``xn--bcher-kva.example.org`` are one domain.
The local part is case-sensitive by RFC 5321, but no mailbox provider in
practice treats ``Anna@`` and ``anna@`` as different people, and a
case-sensitive key would let an unsubscribed ``Anna@`` come back as ``anna@``.
So the key lower-cases the local part too (``str.lower``, not ``casefold``:
``straße`` and ``strasse`` stay distinct), while ``email`` keeps the case the
person typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from newsletter.errors import BadInput

# Mailboxes that reach a team or a machine, not a person who opted in
# (RFC 2142 and common practice). They are accepted but flagged.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "billing",
        "hostmaster",
        "info",
        "list",
        "list-request",
        "mailer-daemon",
        "no-reply",
        "noc",
        "noreply",
        "postmaster",
        "root",
        "sales",
        "security",
        "support",
        "webmaster",
    }
)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]|[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z])"
_FAST = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+{_TLD})")
# Suffixes email-validator rejects as special-use; the fast path defers them.
_SPECIAL = (".arpa", ".invalid", ".local", ".localhost", ".onion", ".test")
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class AddressError(BadInput):
    """An address is not valid; the message says why in the user's terms."""


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address: what to send to, and what to compare by."""

    email: str
    """Normalised by email-validator: local part as typed, domain lower-cased."""
    key: str
    """The de-duplication key: lower-cased local part @ ASCII domain."""

    @property
    def is_role(self) -> bool:
        return self.key.partition("@")[0] in ROLE_LOCAL_PARTS


def _fast_path(text: str) -> Address | None:
    m = _FAST.fullmatch(text)
    if m is None or len(text) > 254:
        return None
    local, domain = m.group(1), m.group(2).lower()
    # "--" at label positions 3-4 is an IDNA/R-LDH question: leave it to the library.
    if "--" in domain or domain.endswith(_SPECIAL) or len(domain) > 253:
        return None
    lowered = local.lower()
    if lowered in _CASE_INSENSITIVE:
        local = lowered
    return Address(f"{local}@{domain}", f"{lowered}@{domain}")


@lru_cache(maxsize=4096)
def _slow_path(text: str, check_deliverability: bool) -> Address:
    try:
        v = validate_email(text, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise AddressError(f"invalid address {text!r}: {exc}") from None
    return Address(v.normalized, f"{v.local_part.lower()}@{v.ascii_domain}")


def parse_address(text: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``text`` (surrounding whitespace ignored) or raise :class:`AddressError`."""
    text = text.strip()
    if not text:
        raise AddressError("missing address")
    if not check_deliverability:
        fast = _fast_path(text)
        if fast is not None:
            return fast
    return _slow_path(text, check_deliverability)


def _unicode_label(label: str) -> str:
    import idna

    try:
        return idna.decode(label) if label.startswith("xn--") else label
    except idna.IDNAError:
        return label


def _ascii_label(label: str) -> str:
    import idna

    try:
        return label if label.isascii() else idna.encode(label, uts46=True).decode("ascii")
    except idna.IDNAError:
        return label


def address_forms(text: str) -> tuple[str, ...]:
    """Every spelling under which an address, or a part of one, may be stored or reported.

    We store ``zoe@bücher.example.com`` (email-validator's normal form), while
    the MTA, every DSN and an admin copying from them say
    ``zoe@xn--bcher-kva.example.com``. The forms are lower-cased, with the domain's
    labels as written, all in Unicode and all in ASCII (IDNA); look-ups compare
    ``lower(column)`` with each (``IN`` for an address, ``contains`` for a part).
    """
    text = text.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at:
        local, domain = "", text
    labels = domain.split(".")
    spellings = (
        domain,
        ".".join(_unicode_label(label) for label in labels),
        ".".join(_ascii_label(label) for label in labels),
    )
    return tuple(dict.fromkeys(local + at + d for d in spellings))
