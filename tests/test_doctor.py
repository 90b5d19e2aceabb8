"""`newsletter doctor` against a real authoritative DNS server (Knot on 127.0.0.1).

Two setups are served: a correct one (every check ok) and broken ones, each fault a receiver
would punish (SPF over 10 lookups, a DKIM key that is not ours, no DMARC, ``p=none``, no PTR,
no MX), and each finding must come with its fix. The DNS answers come only from the zones
below; the addresses are from TEST-NET (192.0.2.0/24), which nothing connects to.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dns_server import dns_server
from web_helpers import WebWorld

from newsletter.doctor import spf
from newsletter.doctor.dkimkey import public_key_record
from newsletter.doctor.dmarc import walk_targets
from newsletter.doctor.relay import one_click_probe
from newsletter.doctor.resolver import Resolver
from newsletter.errors import ConfigError

GOOD_IP = "192.0.2.10"
NO_PTR_IP = "192.0.2.20"
NEWSLETTER = (sys.executable, "-m", "newsletter")
Keys = tuple[Path, str, str]  # private key file, its DNS record, another key's record


def _key(tmp: Path, name: str, bits: int = 2048) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path = tmp / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public_key_record(der)


def _txt(text: str) -> str:
    """A TXT record's data as zone-file strings of at most 255 characters."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def _config(tmp: Path, domain: str, key: Path) -> Path:
    path = tmp / "newsletter.toml"
    path.write_text(
        f"""
[organisation]
name = "Doctor test"
sender_email = "newsletter@{domain}"
postal_address = "Street 1, 10115 Berlin"

[delivery]
transport = "maildir"
verp = true
bounce_domain = "bounces.{domain}"

[smtp]
helo_name = "mail.{domain}"

[dkim]
selector = "news"
key_file = "{key.name}"
"""
    )
    return path


def _at(port: int) -> list[str]:
    return ["--nameserver", f"127.0.0.1:{port}", "--no-database"]


def _doctor(config: Path, port: int, *args: str) -> tuple[int, list[dict[str, str]]]:
    run = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "doctor", *_at(port), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stderr == "" or run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


def _zones(good_record: str, other_record: str) -> dict[str, str]:
    return {
        "org": "",
        "net": "",
        "com": "",
        "example.org": f"""
@ TXT "v=spf1 ip4:{GOOD_IP} -all"
@ MX 10 mail.example.org.
mail A {GOOD_IP}
bounces MX 10 mail.example.org.
bounces TXT "v=spf1 include:example.org -all"
_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"
news._domainkey TXT {_txt(good_record)}
_mta-sts TXT "v=STSv1; id=20261207"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls@example.org"
""",
        # Every fault at once: SPF over the lookup limit, a key that is not ours, no DMARC,
        # no MX anywhere, and the sending address without PTR.
        "example.net": """
bounces TXT "v=spf1 include:a.example.net include:b.example.net include:c.example.net """
        """include:d.example.net include:e.example.net include:f.example.net -all"
"""
        + "".join(
            f'{x} TXT "v=spf1 a mx -all"\n{x} A 192.0.2.9\n{x} MX 10 mail.example.net.\n'
            for x in "abcdef"
        )
        + f"""
news._domainkey TXT {_txt(other_record)}
mail A 192.0.2.99
""",
        # DMARC p=none with a removed tag; everything else right.
        "example.com": f"""
@ TXT "v=spf1 ip4:{GOOD_IP} -all"
@ MX 10 mail.example.com.
mail A {GOOD_IP}
bounces MX 10 mail.example.com.
bounces TXT "v=spf1 ip4:{GOOD_IP} -all"
_dmarc TXT "v=DMARC1; p=none; pct=50"
news._domainkey TXT {_txt(good_record)}
""",
        "2.0.192.in-addr.arpa": "10 PTR mail.example.org.\n",
    }


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    tmp = tmp_path_factory.mktemp("keys")
    path, record = _key(tmp, "dkim.pem")
    _, other = _key(tmp, "other.pem")
    return path, record, other


@pytest.fixture(scope="module")
def port(keys: Keys) -> Iterator[int]:
    _, record, other = keys
    with dns_server(_zones(record, other)) as p:
        yield p


def _setup(tmp_path: Path, keys: Keys, domain: str) -> Path:
    key = tmp_path / "dkim.pem"
    key.write_bytes(keys[0].read_bytes())
    return _config(tmp_path, domain, key)


def by_check(findings: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for f in findings:
        grouped.setdefault(f["check"], []).append(f)
    return grouped


def test_a_correct_domain_is_all_ok(tmp_path: Path, keys: Keys, port: int) -> None:
    code, findings = _doctor(_setup(tmp_path, keys, "example.org"), port, "--ip", GOOD_IP)
    bad = [f for f in findings if f["status"] in ("warning", "error")]
    assert bad == [] and code == 0
    checks = by_check(findings)
    for name in ("spf", "dkim", "dmarc", "alignment", "ptr", "ehlo", "mx", "mta-sts", "tls-rpt"):
        assert checks[name] and all(f["status"] == "ok" for f in checks[name]), name
    assert any("192.0.2.10 is authorised" in f["message"] for f in checks["spf"])
    assert "192.0.2.10 ↔ mail.example.org" in checks["ptr"][0]["message"]
    assert "probe message signed with key_file verifies" in checks["dkim"][0]["message"]
    assert checks["relay"][0]["status"] == "info"  # maildir: no relay


def test_a_broken_domain_gets_each_finding_with_its_fix(
    tmp_path: Path, keys: Keys, port: int
) -> None:
    code, findings = _doctor(_setup(tmp_path, keys, "example.net"), port, "--ip", NO_PTR_IP)
    assert code == 1
    checks = by_check(findings)
    (spf_,) = checks["spf"]
    assert spf_["status"] == "error"
    assert "needs 18 DNS lookups, more than 10" in spf_["message"]
    assert spf_["fix"] == "flatten the includes"
    (dkim_,) = checks["dkim"]
    assert dkim_["status"] == "error"
    assert "is not the public half of the configured key_file" in dkim_["message"]
    assert dkim_["fix"].startswith('publish news._domainkey.example.net TXT "v=DKIM1; k=rsa; p=')
    assert keys[1].split("p=")[1][:40] in dkim_["fix"]  # the record of OUR key, not the DNS one
    (dmarc_,) = checks["dmarc"]
    assert dmarc_["status"] == "error" and "no DMARC record for example.net" in dmarc_["message"]
    assert dmarc_["fix"] == (
        'publish _dmarc.example.net TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.net"'
    )
    (ptr,) = checks["ptr"]
    assert ptr["status"] == "error" and f"{NO_PTR_IP} has no PTR record" in ptr["message"]
    assert ptr["fix"] == f"ask whoever owns {NO_PTR_IP} to set its PTR to mail.example.net"
    (mx,) = checks["mx"]
    assert mx["status"] == "error" and "bounces cannot come back" in mx["message"]
    assert mx["fix"].startswith("publish bounces.example.net MX 10")
    (ehlo,) = checks["ehlo"]
    assert ehlo["status"] == "warning" and "not the sending address" in ehlo["message"]


def test_dmarc_none_and_removed_tags_are_warned(tmp_path: Path, keys: Keys, port: int) -> None:
    code, findings = _doctor(_setup(tmp_path, keys, "example.com"), port, "--ip", GOOD_IP)
    dmarc_ = by_check(findings)["dmarc"]
    none = next(f for f in dmarc_ if "policy none" in f["message"])
    assert none["status"] == "info"  # a small sender: a note, with the way forward
    assert (
        none["fix"] == "once reports show all mail aligned, set p=quarantine in _dmarc.example.com"
    )
    assert any("no rua=" in f["message"] and f["status"] == "warning" for f in dmarc_)
    removed = next(f for f in dmarc_ if "RFC 9989" in f["message"])
    assert removed["status"] == "warning" and removed["fix"] == "remove pct= from the record"
    # p=none is only a note for a small sender; the ptr of GOOD_IP is mail.example.org, whose
    # address is GOOD_IP: forward-confirmed even though the domain differs.
    assert code == 0


def test_table_output_names_each_fix(tmp_path: Path, keys: Keys, port: int) -> None:
    config = _setup(tmp_path, keys, "example.net")
    run = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "doctor", *_at(port), "--ip", NO_PTR_IP],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "flatten the includes" in run.stdout and "error" in run.stdout


def test_a_silent_resolver_is_not_a_missing_record(tmp_path: Path, keys: Keys) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        resolver = Resolver(f"127.0.0.1:{port}", timeout=0.3)
        with pytest.raises(spf.LookupFailed, match="no answer"):
            spf.record(resolver, "example.org")


def test_the_spf_walk_counts_lookups_in_the_whole_tree(port: int) -> None:
    resolver = Resolver(f"127.0.0.1:{port}")
    assert spf.count_lookups(resolver, "bounces.example.org") == 1
    # 6 includes, each with an `a` and an `mx`: 18, whichever address asks.
    assert spf.count_lookups(resolver, "bounces.example.net") == 18
    assert spf.evaluate(resolver, "bounces.example.org", GOOD_IP) == "pass"
    assert spf.evaluate(resolver, "bounces.example.org", "192.0.2.11") == "fail"
    with pytest.raises(spf.SpfError, match="more than 10 DNS lookups"):
        spf.evaluate(resolver, "bounces.example.net", "192.0.2.11")


def test_the_dmarc_tree_walk_follows_rfc_9989() -> None:
    assert walk_targets("a.b.example.org") == [
        "a.b.example.org",
        "b.example.org",
        "example.org",
        "org",
    ]
    # Past eight labels the walk jumps to the seven rightmost, then one label at a time.
    deep = walk_targets("l9.l8.l7.l6.l5.l4.l3.example.org")
    assert deep[:3] == [
        "l9.l8.l7.l6.l5.l4.l3.example.org",
        "l7.l6.l5.l4.l3.example.org",
        "l6.l5.l4.l3.example.org",
    ]
    assert deep[-1] == "org" and len(deep) == 8


def test_one_click_probe_against_the_served_pages(web: WebWorld) -> None:
    web.serve()
    finding = one_click_probe(web.url)
    assert finding.status == "ok", finding
    assert "(400)" in finding.message
    missing = one_click_probe(web.url + "/nothing-here")
    assert missing.status == "error" and "answered 404" in missing.message


def test_the_relay_size_limit_against_an_issue(tmp_path: Path, keys: Keys, port: int) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    relay = Controller(Sink(), hostname="127.0.0.1", port=free, data_size_limit=20_000)
    relay.start()
    try:
        config = _setup(tmp_path, keys, "example.org")
        text = config.read_text().replace('transport = "maildir"', 'transport = "smtp"')
        config.write_text(
            text.replace("[smtp]\n", f'[smtp]\nhost = "127.0.0.1"\nport = {relay.port}\n')
        )
        issue = Path(__file__).resolve().parents[1] / "issues" / "2021-07.yaml"
        code, findings = _doctor(config, port, "--ip", GOOD_IP, "--issue", str(issue))
    finally:
        relay.stop()
    relay_findings = by_check(findings)["relay"]
    starttls = next(f for f in relay_findings if "STARTTLS" in f["message"])
    assert starttls["status"] == "info"  # a relay on this machine needs no TLS
    size = next(f for f in relay_findings if "bytes" in f["message"])
    assert size["status"] == "error" and "accepts at most 20,000 bytes" in size["message"]
    assert code == 1


def test_alignment_fails_when_neither_domain_is_the_senders(port: int) -> None:
    from newsletter.doctor.dnschecks import Setup, check_alignment

    resolver = Resolver(f"127.0.0.1:{port}")
    setup = Setup(
        from_domain="example.org",
        envelope_domain="bounces.example.com",
        ehlo_name="mail.example.org",
        dkim_domain="example.com",
    )
    (finding,) = check_alignment(resolver, setup)
    assert finding.status == "error" and "DMARC fails for every message" in finding.message
    assert finding.fix == "set [dkim] domain = 'example.org' and publish its key"
    # bounces.example.org shares example.org's organisational domain (its _dmarc record).
    ok = Setup("example.org", "bounces.example.org", "mail.example.org", dkim_domain="example.org")
    assert check_alignment(resolver, ok)[0].status == "ok"


def test_volume_and_complaints_from_the_database(world) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from newsletter.doctor.volume import volume_findings

    world.add(6000)
    cid = world.campaign()
    now = "2026-12-07 09:00:00"
    with world.db.session() as s:
        s.execute(sa.text("UPDATE delivery SET status = 'sent' WHERE campaign_id = :c"), {"c": cid})
        for i in range(10):  # ten people complained: 0.17 %, over Gmail's advised 0.1 %
            s.execute(
                sa.text(
                    "INSERT INTO bounce (received_at, source, kind, key_hash, campaign_id, "
                    "scored, decision, content_hash) VALUES (:t, 'test', 'complaint', :k, :c, "
                    ":f, 'unsubscribed', :h)"
                ),
                {"t": now, "k": f"person{i}", "c": cid, "f": False, "h": f"hash{i}"},
            )
    with world.db.session() as s:
        volume, found = volume_findings(s)
    assert volume == 6000
    (size,) = [f for f in found if f.check == "volume"]
    assert size.status == "info" and "over 5,000 a day" in size.message
    (rate,) = [f for f in found if f.check == "complaints"]
    assert rate.status == "warning"
    assert rate.message == f"campaign {cid}: 10 complaints of 6,000 sent (0.17%)"


# -- the EHLO name a send greets a remote relay with ---------------------------------------------


def _relay_config(tmp_path: Path, port: int, helo: str) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(
        f"""
[organisation]
name = "Doctor test"
sender_email = "newsletter@example.org"
postal_address = "Street 1, 10115 Berlin"

[delivery]
transport = "smtp"

[smtp]
host = "relay.example.net"
port = 2525
helo_name = "{helo}"
timeout = 2

[dns]
nameserver = "127.0.0.1:{port}"
"""
    )
    return path


def test_a_send_through_a_remote_relay_refuses_an_ehlo_name_without_address(
    tmp_path: Path, port: int
) -> None:
    # Before this check the proof went to relay.example.net greeting with a name no relay
    # can look up; now it stops before connecting or logging anything, naming the setting.
    config = _relay_config(tmp_path, port, "nowhere.example.org")
    issue = Path(__file__).parent.parent / "issues" / "2021-07.yaml"
    run = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "send", str(issue), "--to", "ed@example.org"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # its database (newsletter.sqlite) there, not in the checkout
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr == (
        f"Error: {config}: smtp.helo_name: the EHLO name nowhere.example.org has no address in "
        "DNS, so relay.example.net and the receivers behind it may refuse the greeting; set "
        "[smtp] helo_name to this machine's public name (the name its IP address's PTR record "
        "gives), publish an A record for nowhere.example.org, or set [smtp] helo_check = false\n"
    )
    log = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "log", "--kind", "all", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert log.returncode == 0 and json.loads(log.stdout or "[]") == [], log.stdout


def test_the_ehlo_check_passes_a_published_name_and_a_silent_resolver(
    tmp_path: Path, port: int
) -> None:
    from newsletter.config import load_settings
    from newsletter.transports.helo import check_helo_name

    published = load_settings(_relay_config(tmp_path, port, "mail.example.org"))
    check_helo_name(published)  # A 192.0.2.10 in the zone: no error
    # A resolver that does not answer says nothing about the name: the send goes on.
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    silent_port = free.getsockname()[1]
    free.close()
    text = _relay_config(tmp_path, silent_port, "nowhere.example.org").read_text()
    (tmp_path / "silent.toml").write_text(text + "timeout = 0.3\n")  # [dns] timeout
    check_helo_name(load_settings(tmp_path / "silent.toml"))
    # The relay on this machine greets the world itself: not checked, even with a bad name.
    local = load_settings(_relay_config(tmp_path, port, "nowhere.example.org"))
    check_helo_name(local, "127.0.0.1")
    with pytest.raises(ConfigError, match=r"nowhere\.example\.org has no address"):
        check_helo_name(local)
    off = tmp_path / "off.toml"
    off.write_text(
        _relay_config(tmp_path, port, "nowhere.example.org")
        .read_text()
        .replace("timeout = 2", "timeout = 2\nhelo_check = false")
    )
    check_helo_name(load_settings(off))


def test_a_nameserver_that_is_not_an_address_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text('[dns]\nnameserver = "dns.example.net"\n')
    run = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "doctor", "--no-database"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "newsletter.toml:2: dns.nameserver: must be an IP address with an optional :PORT, " in (
        run.stderr
    ), run.stderr
