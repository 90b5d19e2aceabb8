"""The DNS side of deliverability: SPF, DKIM, DMARC and their alignment, PTR, EHLO, MX.

Each check takes the :class:`Setup` read from ``newsletter.toml`` (plus what only the admin
knows, such as the address receivers see) and returns findings; none of them sends mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.doctor import dmarc, spf
from newsletter.doctor.dkimkey import check_dkim_key
from newsletter.doctor.findings import Finding
from newsletter.doctor.resolver import LookupFailed, Resolver

BULK_PER_DAY = 5000  # Gmail's, Yahoo's and Microsoft's "bulk sender" threshold


@dataclass(frozen=True)
class Setup:
    from_domain: str  # the domain of From: (organisation.sender_email)
    envelope_domain: str  # MAIL FROM's domain: the VERP bounce domain or the sender's
    ehlo_name: str
    sending_ips: tuple[str, ...] = ()
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_key: bytes | None = None  # PEM private key
    daily_volume: int = 0  # the largest list: what one campaign sends in a day
    relay: str | None = None  # the [smtp] host, for the SPF fix's wording
    notes: list[str] = field(default_factory=list)


Check = Callable[[Resolver, Setup], list[Finding]]


def guarded(name: str, check: Check) -> Check:
    """A lookup that got no answer is reported as such, never as a missing record."""

    def run(resolver: Resolver, setup: Setup) -> list[Finding]:
        try:
            return check(resolver, setup)
        except LookupFailed as exc:
            return [
                Finding(
                    name,
                    "error",
                    f"DNS did not answer: {exc}",
                    "check the resolver (--nameserver) and try again",
                )
            ]

    return run


def check_spf(resolver: Resolver, setup: Setup) -> list[Finding]:
    domain = setup.envelope_domain
    ips = " ".join(f"ip4:{ip}" if ":" not in ip else f"ip6:{ip}" for ip in setup.sending_ips)
    suggestion = f'{domain} TXT "v=spf1 {ips or "a mx"} -all"'
    try:
        text = spf.record(resolver, domain)
        if text is None:
            return [
                Finding(
                    "spf",
                    "error",
                    f"{domain} (the envelope sender's domain) publishes no SPF record",
                    f"publish {suggestion}",
                )
            ]
        lookups = spf.count_lookups(resolver, domain)
    except spf.SpfError as exc:
        return [Finding("spf", "error", f"SPF of {domain}: {exc}", "fix the record")]
    if lookups > spf.LOOKUP_LIMIT:
        return [
            Finding(
                "spf",
                "error",
                f"SPF of {domain} needs {lookups} DNS lookups, more than 10: receivers "
                "answer permerror and DMARC's SPF leg fails",
                "flatten the includes",
            )
        ]
    found = [Finding("spf", "ok", f"{domain}: {text} ({lookups} of 10 DNS lookups)")]
    if not setup.sending_ips:
        found.append(
            Finding(
                "spf",
                "warning",
                "the sending address is unknown, so SPF could not be evaluated",
                "run the doctor with --ip ADDRESS (the address receivers see)",
            )
        )
    for ip in setup.sending_ips:
        walk = spf.Walk()
        try:
            result = spf.evaluate(resolver, domain, ip, walk)
        except spf.SpfError as exc:
            found.append(Finding("spf", "error", f"SPF of {domain}: {exc}", "fix the record"))
            continue
        if result == "pass":
            found.append(Finding("spf", "ok", f"{ip} is authorised ({walk.matched})"))
        else:
            found.append(
                Finding(
                    "spf",
                    "error",
                    f"{ip} is not authorised by {domain}'s SPF record (result: {result})",
                    f"add ip{'6' if ':' in ip else '4'}:{ip} to the record before its 'all'",
                )
            )
        found += [Finding("spf", "warning", note) for note in walk.notes]
    return found


def check_dmarc(resolver: Resolver, setup: Setup) -> list[Finding]:
    domain = setup.from_domain
    try:
        record = dmarc.discover(resolver, domain)
    except dmarc.DmarcError as exc:
        return [Finding("dmarc", "error", str(exc), "publish a valid v=DMARC1 record")]
    org = dmarc.organisational_domain(resolver, domain)
    if record is None:
        return [
            Finding(
                "dmarc",
                "error",
                f"no DMARC record for {domain} (asked _dmarc.{domain} and above); Gmail, "
                "Yahoo and Microsoft reject bulk mail without one",
                f'publish _dmarc.{org} TXT "v=DMARC1; p=none; rua=mailto:dmarc@{org}"',
            )
        ]
    where = f"_dmarc.{record.domain}"
    policy = record.policy if record.domain == domain else record.tags.get("sp", record.policy)
    found = [Finding("dmarc", "ok", f"{where}: p={record.policy} applies to {domain} ({policy})")]
    if policy == "none":
        bulk = setup.daily_volume > BULK_PER_DAY
        found.append(
            Finding(
                "dmarc",
                "warning" if bulk else "info",
                "policy none: receivers only report"
                + (f" (you send {setup.daily_volume:,} a day, a bulk sender)" if bulk else "")
                + "; BIMI logos need quarantine or reject",
                f"once reports show all mail aligned, set p=quarantine in {where}",
            )
        )
    if "rua" not in record.tags:
        found.append(
            Finding(
                "dmarc",
                "warning",
                f"{where} has no rua=: nobody receives the aggregate reports",
                f"add rua=mailto:dmarc@{org}",
            )
        )
    removed = [t for t in dmarc.REMOVED_TAGS if t in record.tags]
    if removed:
        found.append(
            Finding(
                "dmarc",
                "warning",
                f"{where} uses {', '.join(removed)}, removed by RFC 9989 (receivers ignore them)",
                f"remove {', '.join(t + '=' for t in removed)} from the record",
            )
        )
    return found


def check_alignment(resolver: Resolver, setup: Setup) -> list[Finding]:
    record = dmarc.discover(resolver, setup.from_domain)
    tags = record.tags if record else {}

    def aligned(domain: str, strict: bool) -> bool:
        if record is None:
            # Without any record every name is its own organisation (RFC 9989), which would
            # call bounces.example.org unaligned with example.org; judge instead as the
            # record the dmarc check asks for, at the From domain, will make receivers do.
            return domain == setup.from_domain or domain.endswith("." + setup.from_domain)
        return dmarc.aligned(resolver, domain, setup.from_domain, strict)

    spf_ok = aligned(setup.envelope_domain, tags.get("aspf") == "s")
    dkim_ok = setup.dkim_domain is not None and aligned(setup.dkim_domain, tags.get("adkim") == "s")
    spf_text = f"SPF domain {setup.envelope_domain} {'is' if spf_ok else 'is not'} aligned"
    dkim_text = (
        "no DKIM signature"
        if setup.dkim_domain is None
        else f"DKIM d={setup.dkim_domain} {'is' if dkim_ok else 'is not'} aligned"
    )
    summary = f"From {setup.from_domain}: {spf_text}; {dkim_text}"
    if spf_ok and dkim_ok:
        return [Finding("alignment", "ok", summary)]
    if spf_ok or dkim_ok:
        return [
            Finding(
                "alignment",
                "warning",
                summary + " (DMARC passes on one leg; forwarding breaks SPF)",
                "sign with d= in the From domain ([dkim] domain)"
                if not dkim_ok
                else f"use a bounce domain under {setup.from_domain} ([delivery] bounce_domain)",
            )
        ]
    return [
        Finding(
            "alignment",
            "error",
            summary + ": DMARC fails for every message",
            f"set [dkim] domain = {setup.from_domain!r} and publish its key",
        )
    ]


def check_dkim(resolver: Resolver, setup: Setup) -> list[Finding]:
    if not setup.dkim_key or not setup.dkim_selector or not setup.dkim_domain:
        return [
            Finding(
                "dkim",
                "error",
                "messages are not DKIM-signed; Gmail, Yahoo and Microsoft require it for bulk mail",
                "openssl genrsa -out dkim.pem 2048, then set [dkim] key_file and selector",
            )
        ]
    name = f"{setup.dkim_selector}._domainkey.{setup.dkim_domain}"
    return check_dkim_key(setup.dkim_key, name, resolver.txt(name))


def check_ptr(resolver: Resolver, setup: Setup) -> list[Finding]:
    if not setup.sending_ips:
        return [
            Finding(
                "ptr",
                "warning",
                "the sending address is unknown, so its PTR record was not checked",
                "run the doctor with --ip ADDRESS (the address receivers see)",
            )
        ]
    found = []
    for ip in setup.sending_ips:
        names = resolver.ptr(ip)
        if not names:
            found.append(
                Finding(
                    "ptr",
                    "error",
                    f"{ip} has no PTR record; Gmail and Microsoft reject mail from it",
                    f"ask whoever owns {ip} to set its PTR to {setup.ehlo_name}",
                )
            )
            continue
        confirmed = [n for n in names if ip in resolver.addresses(n)]
        if not confirmed:
            found.append(
                Finding(
                    "ptr",
                    "error",
                    f"{ip} → {names[0]}, but {names[0]} does not resolve back to {ip}",
                    f"publish {names[0]} A {ip}",
                )
            )
        else:
            found.append(Finding("ptr", "ok", f"{ip} ↔ {confirmed[0]} (forward-confirmed)"))
    return found


def check_ehlo(resolver: Resolver, setup: Setup) -> list[Finding]:
    name = setup.ehlo_name
    addresses = resolver.addresses(name)
    if not addresses:
        return [
            Finding(
                "ehlo",
                "warning",
                f"the EHLO name {name} does not resolve",
                f"set [smtp] helo_name to the sending host's name (its PTR), or publish {name}",
            )
        ]
    matching = set(addresses) & set(setup.sending_ips)
    if setup.sending_ips and not matching:
        return [
            Finding(
                "ehlo",
                "warning",
                f"the EHLO name {name} resolves to {', '.join(addresses)}, not the sending address",
                "greet with the name the sending address's PTR gives ([smtp] helo_name)",
            )
        ]
    return [Finding("ehlo", "ok", f"the EHLO name {name} resolves to {', '.join(addresses)}")]


def check_mx(resolver: Resolver, setup: Setup) -> list[Finding]:
    domain = setup.envelope_domain
    hosts = resolver.mx(domain)
    if hosts:
        listed = ", ".join(h for _, h in hosts)
        return [Finding("mx", "ok", f"bounces to {domain} go to {listed}")]
    if resolver.addresses(domain):
        return [
            Finding(
                "mx",
                "warning",
                f"{domain} has no MX; bounces go to its A record's host",
                f"publish {domain} MX 10 <the host that receives your bounces>",
            )
        ]
    return [
        Finding(
            "mx",
            "error",
            f"{domain} has neither MX nor address: bounces cannot come back",
            f"publish {domain} MX 10 <the host that receives your bounces>",
        )
    ]


def check_reporting(resolver: Resolver, setup: Setup) -> list[Finding]:
    domain = setup.from_domain
    found = []
    sts = [t for t in resolver.txt(f"_mta-sts.{domain}") if t.startswith("v=STSv1")]
    rpt = [t for t in resolver.txt(f"_smtp._tls.{domain}") if t.startswith("v=TLSRPTv1")]
    found.append(
        Finding("mta-sts", "ok", f"_mta-sts.{domain}: {sts[0]}")
        if sts
        else Finding("mta-sts", "info", f"no MTA-STS for {domain} (protects mail sent to you)")
    )
    found.append(
        Finding("tls-rpt", "ok", f"_smtp._tls.{domain}: {rpt[0]}")
        if rpt
        else Finding("tls-rpt", "info", f"no TLS-RPT for {domain}")
    )
    return found


CHECKS: tuple[tuple[str, Check], ...] = (
    ("spf", check_spf),
    ("dkim", check_dkim),
    ("dmarc", check_dmarc),
    ("alignment", check_alignment),
    ("ptr", check_ptr),
    ("ehlo", check_ehlo),
    ("mx", check_mx),
    ("mta-sts", check_reporting),
)


def dns_findings(resolver: Resolver, setup: Setup) -> list[Finding]:
    found: list[Finding] = []
    for name, check in CHECKS:
        found += guarded(name, check)(resolver, setup)
    return found
