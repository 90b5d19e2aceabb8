"""``newsletter doctor``: is this setup one that Gmail, Yahoo and Microsoft accept bulk mail from?

Since 2024 (Microsoft since 2025) the big mailbox providers reject or junk bulk mail without
aligned SPF, DKIM and DMARC, a PTR record, TLS and a working one-click unsubscribe. None of that
is visible from inside the program that sends, so the doctor asks DNS, the relay and the web
server the questions a receiver asks, and says for each what to fix.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.doctor.dnschecks import Setup, dns_findings
from newsletter.doctor.findings import Finding, worst
from newsletter.doctor.relay import LOOPBACK, check_relay, check_web
from newsletter.doctor.resolver import LookupFailed, Resolver, is_ip

__all__ = ["Finding", "Options", "diagnose", "setup_of", "worst"]


@dataclass(frozen=True)
class Options:
    domain: str | None = None  # check this From domain instead of the sender's
    ips: tuple[str, ...] = ()  # the address(es) receivers see our mail come from
    nameserver: str | None = None
    online: bool = False
    daily_volume: int = 0
    largest_message: int | None = None


def setup_of(settings: Settings, options: Options, resolver: Resolver) -> Setup:
    from newsletter.transports.helo import helo_name

    org = settings.organisation
    sender_domain = org.sender_email.rpartition("@")[2].lower()
    from_domain = (options.domain or sender_domain).lower()
    d = settings.delivery
    envelope = (d.bounce_domain or from_domain) if d.verp else from_domain
    ehlo = helo_name(settings)
    dk = settings.dkim
    key = settings.path(dk.key_file).read_bytes() if dk.key_file else None
    return Setup(
        from_domain=from_domain,
        envelope_domain=envelope.lower(),
        ehlo_name=ehlo,
        sending_ips=options.ips or _relay_addresses(settings, resolver),
        dkim_domain=(dk.domain or from_domain).lower() if key else None,
        dkim_selector=dk.selector,
        dkim_key=key,
        daily_volume=options.daily_volume,
        relay=settings.smtp.host if d.transport == "smtp" else None,
    )


def _relay_addresses(settings: Settings, resolver: Resolver) -> tuple[str, ...]:
    """The relay's public addresses, when it is a remote host; else unknown (``--ip``)."""
    host = settings.smtp.host
    if settings.delivery.transport != "smtp" or host in LOOPBACK:
        return ()
    try:
        addresses = [host] if is_ip(host) else resolver.addresses(host)
    except LookupFailed:
        return ()
    return tuple(a for a in addresses if ipaddress.ip_address(a).is_global)


def diagnose(settings: Settings, options: Options) -> list[Finding]:
    """Every finding, DNS first, then the relay and the web side."""
    resolver = Resolver(options.nameserver or settings.dns.nameserver, settings.dns.timeout)
    setup = setup_of(settings, options, resolver)
    found = dns_findings(resolver, setup)
    found += check_relay(settings, setup.ehlo_name, options.largest_message)
    found += check_web(settings, options.online)
    return found
