"""SPF (RFC 7208): the record of the envelope domain, its lookup count, and whether it lets
our sending address through.

Written here instead of taking pyspf because the doctor needs more than a verdict: the number
of DNS-querying terms across the whole include tree (receivers return ``permerror`` past 10,
which silently fails DMARC's SPF leg for every message) and which term matched, so the fix can
name the record to change. Macros (``%{i}``) are not expanded; a term that uses one is reported
as not evaluated rather than guessed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TypeVar

from newsletter.doctor.resolver import LookupFailed, Resolver

T = TypeVar("T")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
VOID_LIMIT = 2
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_COUNTED = {"include", "a", "mx", "ptr", "exists", "redirect"}


class SpfError(Exception):
    """A record a receiver would answer ``permerror`` for."""


@dataclass
class Walk:
    """What one evaluation saw: the lookup count over the whole tree and the deciding term."""

    lookups: int = 0
    voids: int = 0
    matched: str | None = None
    notes: list[str] = field(default_factory=list)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise SpfError(f"more than {LOOKUP_LIMIT} DNS lookups (include, a, mx, ptr, exists)")


def record(resolver: Resolver, domain: str) -> str | None:
    """The one ``v=spf1`` record of ``domain``, None when there is none; two are an error."""
    found = [t for t in resolver.txt(domain) if t.lower().startswith("v=spf1") and _bare(t)]
    if len(found) > 1:
        raise SpfError(f"{domain} publishes {len(found)} SPF records; receivers need exactly one")
    return found[0] if found else None


def _bare(text: str) -> bool:
    return len(text) == 6 or text[6] == " "


def evaluate(resolver: Resolver, domain: str, ip: str, walk: Walk | None = None) -> str:
    """``pass``/``fail``/``softfail``/``neutral``/``none`` for ``ip`` sending as ``domain``.

    Raises SpfError for a permanent error and LookupFailed when DNS did not answer.
    """
    walk = walk or Walk()
    text = record(resolver, domain)
    if text is None:
        return "none"
    address = ipaddress.ip_address(ip)
    redirect = None
    for term in text.split()[1:]:
        name, _, value = term.partition("=")
        if value and name.isalpha() and name.lower() in ("redirect", "exp"):
            if name.lower() == "redirect":
                redirect = value
            continue
        qualifier = _QUALIFIERS.get(term[0])
        mechanism = term[1:] if qualifier else term
        if _matches(resolver, domain, mechanism, address, walk):
            walk.matched = f"{domain}: {term}"
            return qualifier or "pass"
    if redirect:
        walk.count()
        if "%" in redirect:
            walk.notes.append(f"redirect={redirect} uses a macro; not evaluated")
            return "neutral"
        result = evaluate(resolver, redirect, ip, walk)
        if result == "none":
            raise SpfError(f"redirect={redirect} names a domain without an SPF record")
        return result
    return "neutral"


def _matches(resolver: Resolver, domain: str, mechanism: str, address: Address, walk: Walk) -> bool:
    kind, _, rest = mechanism.partition(":")
    if rest:
        arg, _, cidr = rest.partition("/")  # include:x, a:host/24, ip4:192.0.2.0/24
    else:
        kind, _, cidr = kind.partition("/")  # a, a/24, mx/24//64
        arg = ""
    kind = kind.lower()
    if kind in _COUNTED:
        walk.count()
    if "%" in arg:
        walk.notes.append(f"{kind}:{arg} uses a macro; not evaluated")
        return False
    if kind == "all":
        return True
    if kind in ("ip4", "ip6"):
        try:
            net = ipaddress.ip_network(arg + (f"/{cidr}" if cidr else ""), strict=False)
        except ValueError as exc:
            raise SpfError(f"{domain}: bad {kind} term {mechanism!r}") from exc
        return address.version == net.version and address in net
    if kind == "include":
        if not arg:
            raise SpfError(f"{domain}: include needs a domain")
        result = evaluate(resolver, arg, str(address), walk)
        if result == "none":
            raise SpfError(f"{domain}: include:{arg} names a domain without an SPF record")
        return result == "pass"
    if kind == "a":
        return _in(_void(resolver.addresses(arg or domain), walk), address, cidr)
    if kind == "mx":
        hosts = _void(resolver.mx(arg or domain), walk)
        if len(hosts) > LOOKUP_LIMIT:
            raise SpfError(f"{domain}: mx names more than {LOOKUP_LIMIT} hosts")
        return any(_in(resolver.addresses(h), address, cidr) for _, h in hosts)
    if kind == "ptr":
        walk.notes.append("the ptr mechanism is deprecated (RFC 7208 §5.5); remove it")
        return False
    if kind == "exists":
        return bool(_void(resolver.query(arg, "A"), walk))
    raise SpfError(f"{domain}: unknown mechanism {mechanism!r}")


def _void(answers: list[T], walk: Walk) -> list[T]:
    if not answers:
        walk.voids += 1
        if walk.voids > VOID_LIMIT:
            raise SpfError(f"more than {VOID_LIMIT} lookups found nothing (void lookups)")
    return answers


def _in(addresses: list[str], address: Address, cidr: str) -> bool:
    for text in addresses:
        ip = ipaddress.ip_address(text)
        if ip.version != address.version:
            continue
        bits = cidr.split("//")[0 if ip.version == 4 else -1] if cidr else ""
        net = ipaddress.ip_network(f"{ip}/{bits}" if bits else str(ip), strict=False)
        if address in net:
            return True
    return False


def count_lookups(resolver: Resolver, domain: str, seen: frozenset[str] = frozenset()) -> int:
    """DNS-querying terms in the whole tree below ``domain``, whichever IP is asking.

    A receiver stops at the first match, so a record can pass for one address and be a
    ``permerror`` for another; the admin needs the worst case, which is the whole tree.
    """
    if domain in seen:
        raise SpfError(f"{domain} includes itself (a loop)")
    text = record(resolver, domain)
    if text is None:
        return 0
    total = 0
    for term in text.split()[1:]:
        body = term.lstrip("+-~?")
        name, sep, value = body.partition("=")
        kind, _, arg = body.partition(":")
        if sep and name.lower() == "redirect":
            total += 1 + (0 if "%" in value else count_lookups(resolver, value, seen | {domain}))
        elif kind.split("/")[0].lower() in _COUNTED:
            total += 1
            if kind.lower() == "include" and arg and "%" not in arg:
                total += count_lookups(resolver, arg, seen | {domain})
    return total


__all__ = [
    "LOOKUP_LIMIT",
    "LookupFailed",
    "SpfError",
    "Walk",
    "count_lookups",
    "evaluate",
    "record",
]
