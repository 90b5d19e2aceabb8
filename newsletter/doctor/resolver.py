"""DNS answers for the doctor, with the difference between "no record" and "could not ask".

A check that says "no SPF record" when the resolver timed out would send the admin to fix a
record that is fine, so every lookup returns either the records (possibly none: NXDOMAIN and
NODATA are the same answer for our purposes) or raises :class:`LookupFailed`, which the
checks report as an error of the lookup, not of the domain.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from newsletter.transports.helo import make_resolver


class LookupFailed(Exception):
    """The resolver gave no answer (timeout, SERVFAIL, refused): nothing is known."""


@dataclass
class Resolver:
    """A dnspython resolver with a small cache; ``nameserver`` is ``host`` or ``host:port``.

    The cache matters because SPF's include tree, the DMARC walk and the alignment checks ask
    for the same names several times in one run.
    """

    nameserver: str | None = None
    timeout: float = 5.0
    queries: int = 0
    _cache: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._r = make_resolver(self.nameserver or None, self.timeout)

    def query(self, name: str, rdtype: str) -> list[str]:
        """Record texts of ``name``/``rdtype``; ``[]`` when the name or the type does not exist."""
        key = (name.lower().rstrip("."), rdtype)
        if key in self._cache:
            return self._cache[key]
        self.queries += 1
        try:
            answer = self._r.resolve(key[0] + ".", rdtype, raise_on_no_answer=False)
            rrset = answer.rrset
            texts = [] if rrset is None else [_text(r, rdtype) for r in rrset]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            texts = []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            if isinstance(exc, dns.exception.Timeout):
                # One silent resolver is enough to know: the other checks fail at once
                # instead of each waiting out its own timeout.
                self._r.lifetime = self._r.timeout = 0.01
            raise LookupFailed(f"{key[0]} {rdtype}: {_why(exc)}") from exc
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{key[0]} {rdtype}: {exc}") from exc
        self._cache[key] = texts
        return texts

    def txt(self, name: str) -> list[str]:
        return self.query(name, "TXT")

    def addresses(self, name: str) -> list[str]:
        return self.query(name, "A") + self.query(name, "AAAA")

    def mx(self, name: str) -> list[tuple[int, str]]:
        pairs = []
        for text in self.query(name, "MX"):
            pref, _, host = text.partition(" ")
            pairs.append((int(pref), host.rstrip(".").lower()))
        return sorted(pairs)

    def ptr(self, ip: str) -> list[str]:
        name = dns.reversename.from_address(ip).to_text().rstrip(".")
        return [p.rstrip(".").lower() for p in self.query(name, "PTR")]


def _text(rdata: object, rdtype: str) -> str:
    if rdtype == "TXT":
        # A TXT record is a list of strings that SPF and DKIM read as one, concatenated.
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    return rdata.to_text()  # type: ignore[attr-defined]


def _why(exc: Exception) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "no answer (timeout)"
    return "the name servers refused or failed (SERVFAIL)"


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def parent(name: str) -> str:
    """``mail.example.org`` → ``example.org``."""
    return name.partition(".")[2]


__all__ = ["LookupFailed", "Resolver", "dns", "is_ip", "parent"]
