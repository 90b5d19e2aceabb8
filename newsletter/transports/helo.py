"""The name we greet a relay with (EHLO), and the refusal to greet with one nobody can look up.

Relays commonly reject a greeting whose name does not resolve (Postfix's
``reject_unknown_helo_hostname``, Exchange's anti-spam agents), and the big
mailbox providers score it down when the relay passes it on in its
``Received`` header. Finding that out from a campaign's bounces is too late, so
a send through a remote relay checks the name first and stops before anything
is claimed, with the setting to change. A relay on this machine (a local
Postfix) greets the world with its own name, so ours does not matter there.

Only a definite answer refuses: NXDOMAIN, or a name without A and AAAA
records. A resolver that does not answer says nothing about the name (the
relay may be given as an IP address and still be reachable), so the send goes
on and ``newsletter doctor`` reports the lookup failure.
"""

from __future__ import annotations

import socket

import dns.exception
import dns.resolver
import idna

from newsletter.config import Settings
from newsletter.configschema import host_port, is_loopback
from newsletter.errors import ConfigError


def default_helo_name(sender_email: str) -> str:
    """The name to greet with: this machine's FQDN when it has one, else the sender's domain.

    Without a dotted name smtplib greets with an address literal
    (``[127.0.0.1]``), which receiving MXs score as spam-like.
    """
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    domain = sender_email.rpartition("@")[2]
    return domain if domain.isascii() else idna.encode(domain).decode("ascii")


def helo_name(settings: Settings) -> str:
    """``[smtp] helo_name``, or the default above."""
    return settings.smtp.helo_name or default_helo_name(settings.organisation.sender_email)


def resolver_of(settings: Settings, nameserver: str | None = None) -> dns.resolver.Resolver:
    """A dnspython resolver asking ``nameserver``, ``[dns] nameserver`` or the system's."""
    return make_resolver(nameserver or settings.dns.nameserver, settings.dns.timeout)


def make_resolver(nameserver: str | None, timeout: float) -> dns.resolver.Resolver:
    """A dnspython resolver asking ``nameserver`` (``HOST[:PORT]``), else the system's.

    One place builds them for every lookup newsletter makes (the EHLO check, the MX grouping,
    the doctor), so a nameserver setting means the same everywhere.
    """
    if nameserver is None:
        r = dns.resolver.Resolver()
    else:
        host, port = host_port(nameserver)
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [host]
        r.port = port
    r.lifetime = r.timeout = timeout
    return r


def resolves(name: str, resolver: dns.resolver.Resolver) -> bool | None:
    """True when ``name`` has an A or AAAA record, False when it has none, None: no answer."""
    answered = False
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(name.rstrip(".") + ".", rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return False
        except dns.exception.DNSException:
            continue
        answered = True
        if answer.rrset is not None and len(answer.rrset):
            return True
    return False if answered else None


def check_helo_name(settings: Settings, host: str | None = None) -> None:
    """Raise :class:`ConfigError` when a remote relay would be greeted with an unknown name.

    ``host`` is the relay actually used (``--smtp-host`` overrides ``[smtp] host``).
    """
    relay = host or settings.smtp.host
    if not settings.smtp.helo_check or is_loopback(relay):
        return
    name = helo_name(settings)
    if resolves(name, resolver_of(settings)) is not False:
        return
    where = "smtp.helo_name" if settings.smtp.helo_name else "smtp.helo_name (not set)"
    source = f"{settings.source}: " if settings.source else ""
    raise ConfigError(
        f"{source}{where}: the EHLO name {name} has no address in DNS, so {relay} and the "
        f"receivers behind it may refuse the greeting; set [smtp] helo_name to this machine's "
        f"public name (the name its IP address's PTR record gives), publish an A record for "
        f"{name}, or set [smtp] helo_check = false"
    )
