"""The relay and the web side: what a receiver's checks see of our SMTP server and our links.

The relay check greets the configured ``[smtp]`` server exactly as a send would (same EHLO
name, same TLS settings), so a certificate that does not match the host name, AUTH offered
in clear, or a SIZE limit below our messages is found before a campaign stops on it.
"""

from __future__ import annotations

import smtplib
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.doctor.findings import Finding

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_relay(settings: Settings, ehlo_name: str, largest: int | None) -> list[Finding]:
    if settings.delivery.transport != "smtp":
        return [
            Finding("relay", "info", f"transport is {settings.delivery.transport}: no relay used")
        ]
    s = settings.smtp
    where = f"{s.host}:{s.port}"
    ctx = ssl.create_default_context(cafile=str(settings.path(s.ca_file)) if s.ca_file else None)
    if not s.verify_certificates:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    found: list[Finding] = []
    try:
        if s.security == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=ehlo_name, timeout=10, context=ctx
            )
        else:
            conn = smtplib.SMTP(s.host, s.port, local_hostname=ehlo_name, timeout=10)
        with conn:
            conn.ehlo()
            if s.security != "tls":
                found += _starttls(conn, ctx, where, s.host)
            found += _size(conn, where, largest)
    except ssl.SSLError as exc:
        found.append(
            Finding(
                "relay",
                "error",
                f"TLS with {where} failed: {exc.reason or exc}",
                "install a certificate valid for the relay's name, or set [smtp] ca_file",
            )
        )
    except (OSError, smtplib.SMTPException) as exc:
        found.append(
            Finding(
                "relay",
                "error",
                f"cannot talk to the relay {where}: {exc}",
                "check [smtp] host and port, and that the server runs",
            )
        )
    return found


def _starttls(conn: smtplib.SMTP, ctx: ssl.SSLContext, where: str, host: str) -> list[Finding]:
    found = []
    local = host in LOOPBACK
    if conn.has_extn("auth"):
        found.append(
            Finding(
                "relay",
                "info" if local else "warning",
                f"{where} offers AUTH before TLS",
                "" if local else "offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only)",
            )
        )
    if not conn.has_extn("starttls"):
        found.append(
            Finding(
                "relay",
                "info" if local else "error",
                f"{where} does not offer STARTTLS"
                + (" (on this machine, which needs none)" if local else ""),
                "" if local else "enable STARTTLS on the relay",
            )
        )
        return found
    conn.starttls(context=ctx)
    conn.ehlo()
    found.append(Finding("relay", "ok", f"{where} offers STARTTLS with a valid certificate"))
    return found


def _size(conn: smtplib.SMTP, where: str, largest: int | None) -> list[Finding]:
    limit = int(conn.esmtp_features.get("size", "0").strip() or 0)
    if not limit:
        return [Finding("relay", "info", f"{where} announces no SIZE limit")]
    if largest is not None and largest > limit:
        return [
            Finding(
                "relay",
                "error",
                f"{where} accepts at most {limit:,} bytes; the message is {largest:,}",
                "raise the relay's message_size_limit or send smaller images",
            )
        ]
    size = f"; the message is {largest:,}" if largest is not None else ""
    return [Finding("relay", "ok", f"{where} accepts messages up to {limit:,} bytes{size}")]


def check_web(settings: Settings, online: bool) -> list[Finding]:
    base = settings.delivery.base_url.rstrip("/")
    if urlsplit(base).scheme != "https":
        return [Finding("web", "error", f"base_url {base} is not https", "serve it over https")]
    found = [Finding("web", "ok", f"base_url {base} is https")]
    if not online:
        found.append(Finding("web", "info", "one-click unsubscribe not tried (add --online)"))
        return found
    found.append(one_click_probe(base))
    return found


def one_click_probe(base: str) -> Finding:
    """POST the RFC 8058 body with a token that names nobody.

    Our server answers a one-click post for an unknown token with 400 ``invalid link``; any
    2xx is a server that accepts one-click too. A 404/405, a redirect or a login page means
    Gmail's and Yahoo's one-click button cannot work.
    """
    url = f"{base}/unsubscribe/doctor-probe"
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read(200)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(200)
    except (TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding("web", "error", f"POST {url} failed: {reason}", "start `newsletter serve`")
    if 200 <= status < 300 or (status == 400 and body.startswith(b"invalid link")):
        return Finding("web", "ok", f"one-click POST to {base}/unsubscribe/… answers ({status})")
    return Finding(
        "web",
        "error",
        f"one-click POST to {url} answered {status}",
        "route /unsubscribe/ to `newsletter serve` and allow POST without a login",
    )
