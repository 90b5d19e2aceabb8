"""Which destination a recipient's domain belongs to: by name, else by the servers taking its mail.

A company on Google Workspace or Microsoft 365 has its own domain but Google's or Microsoft's
MX hosts, and those providers throttle by the servers, not by the domain: sending to it as if
it were a destination of its own would double the pace the provider sees. So a domain is
grouped, first match wins, by

1. the ``domains`` of a ``[delivery.destinations.<name>]`` table,
2. the consumer domains of the built-in providers (``destinations.PROVIDERS``),
3. its MX hosts, looked up once per run, matched against the tables' ``mx`` suffixes and the
   built-in providers' (``aspmx.l.google.com``, ``*.mail.protection.outlook.com`` …),
4. else the domain itself.

The lookups run before sending, in parallel and within ``delivery.mx_lookup_seconds`` in all;
a domain the resolver did not answer for in time (or at all) is its own destination, which
only costs the grouping, never a message. Reserved names (RFC 2606 / 6761: ``example.com``,
``.test``, ``.invalid`` …) have no mail servers and are not asked about, unless a name server
was configured (``[dns] nameserver``), which may be a private one that knows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from newsletter.campaigns.destinations import PROVIDERS, destination_of
from newsletter.destinationconfig import DestinationSettings

# Provider → the suffixes of the MX hosts it runs for its customers' own domains.
MX_SUFFIXES: dict[str, tuple[str, ...]] = {
    "google": ("google.com", "googlemail.com"),  # aspmx.l.google.com, smtp.google.com
    "microsoft": ("mail.protection.outlook.com", "olc.protection.outlook.com"),
    "yahoo": ("yahoodns.net",),  # mta5.am0.yahoodns.net, also AOL's
    "apple": ("mail.icloud.com",),
    "gmx": ("gmx.net", "web.de"),  # mx00.emig.gmx.net, mx-ha03.web.de
    "t-online": ("t-online.de",),
    "qq": ("qq.com",),  # mxbiz1.qq.com (Tencent Exmail)
    "netease": ("netease.com", "163.com", "126.com"),  # qiye163mx01.mxmail.netease.com
    "sina": ("sina.com", "sina.net"),
    "aliyun": ("mxhichina.com", "aliyun.com"),
}
_RESERVED_TLDS = ("test", "example", "invalid", "localhost", "local")
_RESERVED = ("example.com", "example.net", "example.org")
LOOKUP_TIMEOUT = 3.0  # seconds for one domain's lookup, within the run's whole budget
PARALLEL = 16  # lookups at once: most answer in milliseconds, a few wait out the timeout


def is_reserved(domain: str) -> bool:
    """A name that no real mail server answers for (RFC 2606, RFC 6761)."""
    parts = domain.split(".")
    return parts[-1] in _RESERVED_TLDS or ".".join(parts[-2:]) in _RESERVED


def lookup_mx(domain: str, nameserver: str | None, timeout: float) -> list[str]:
    """The MX host names of ``domain``, most preferred first; ``[]`` when it has none."""
    import dns.resolver

    from newsletter.transports.helo import make_resolver

    resolver = make_resolver(nameserver or None, timeout)
    try:
        answer = resolver.resolve(domain + ".", "MX", raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    if answer.rrset is None:
        return []
    pairs = sorted((r.preference, r.exchange.to_text().rstrip(".").lower()) for r in answer.rrset)
    return [host for _, host in pairs if host]


def _matches(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


@dataclass
class Grouping:
    """Address → destination name for one run; the MX answers are kept for the whole run."""

    tables: tuple[DestinationSettings, ...] = ()
    nameserver: str | None = None
    by_domain: dict[str, str] = field(default_factory=dict)  # configured and looked up
    looked_up: int = 0

    def __post_init__(self) -> None:
        for table in self.tables:
            for domain in table.domains:
                self.by_domain.setdefault(domain, table.name)
        # configured suffixes first: an admin may split a provider's servers differently
        self.suffixes = [(s, t.name) for t in self.tables for s in t.mx]
        self.suffixes += [(s, name) for name, suffixes in MX_SUFFIXES.items() for s in suffixes]

    def __call__(self, address: str) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        return self.by_domain.get(domain) or destination_of(domain)

    def of_mx(self, hosts: Iterable[str]) -> str | None:
        """The destination whose servers these are (the most preferred host decides)."""
        for host in hosts:
            for suffix, name in self.suffixes:
                if _matches(host, suffix):
                    return name
        return None

    def prepare(self, domains: Iterable[str], budget: float) -> None:
        """Look up the MX of every domain not grouped by name, within ``budget`` seconds."""
        builtin = {d for names in PROVIDERS.values() for d in names}
        todo = sorted(
            {d.lower().rstrip(".") for d in domains} - builtin - self.by_domain.keys() - {""}
        )
        if not self.nameserver:
            todo = [d for d in todo if not is_reserved(d)]
        if not todo or budget <= 0:
            return
        timeout = min(LOOKUP_TIMEOUT, budget)
        pool = ThreadPoolExecutor(max_workers=min(PARALLEL, len(todo)))
        futures = {pool.submit(lookup_mx, d, self.nameserver, timeout): d for d in todo}
        done, _ = wait(futures, timeout=budget)
        pool.shutdown(wait=False, cancel_futures=True)
        self.looked_up = len(done)
        for future in done:
            if future.exception() is None:
                name = self.of_mx(future.result())
                if name is not None:
                    self.by_domain[futures[future]] = name
