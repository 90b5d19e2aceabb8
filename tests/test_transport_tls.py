"""SMTP security: STARTTLS and implicit TLS with certificate checks, AUTH from the environment."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_server import RecordingServer

from newsletter.config import Settings, Smtp
from newsletter.errors import ConfigError
from newsletter.transports import TransportUnavailable
from newsletter.transports.smtp import SmtpTransport

DATA = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, certificate))
    return ctx


def _authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"news", b"s3cret")
    return AuthResult(success=ok, handled=False)


def test_starttls_with_auth_and_a_verified_certificate(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "s3cret")
    options = {
        "tls_context": _server_context(certificate),
        "require_starttls": True,
        "auth_required": True,
        "authenticator": _authenticator,
    }
    with RecordingServer(server_options=options) as srv:
        settings = Settings(
            smtp=Smtp(host="127.0.0.1", port=srv.port, security="starttls", username="news",
                      ca_file=str(certificate[0]))
        )  # fmt: skip
        channel = SmtpTransport.from_settings(settings).open_channel()
        outcome = channel.send("a@example.org", "b@example.org", DATA)
        channel.close()
    assert outcome.status == "sent", outcome
    assert srv.received_by() == {"b@example.org": 1}


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    options = {"ssl_context": _server_context(certificate), "server_hostname": "localhost"}
    with RecordingServer(server_options=options) as srv:
        t = SmtpTransport("127.0.0.1", srv.port, security="tls", ca_file=str(certificate[0]))
        channel = t.open_channel()
        assert channel.send("a@example.org", "b@example.org", DATA).status == "sent"
        channel.close()
    assert srv.received_by() == {"b@example.org": 1}


def test_an_unknown_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    options = {"tls_context": _server_context(certificate), "require_starttls": True}
    with RecordingServer(server_options=options) as srv:
        channel = SmtpTransport("127.0.0.1", srv.port, security="starttls").open_channel()
        with pytest.raises(TransportUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            channel.send("a@example.org", "b@example.org", DATA)
    assert srv.messages == []


def test_wrong_password_and_missing_password(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"tls_context": _server_context(certificate), "auth_required": True,
               "authenticator": _authenticator}  # fmt: skip
    with RecordingServer(server_options=options) as srv:
        smtp = Smtp(host="127.0.0.1", port=srv.port, security="starttls", username="news",
                    ca_file=str(certificate[0]))  # fmt: skip
        monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match=r"\$NEWSLETTER_SMTP_PASSWORD is not"):
            SmtpTransport.from_settings(Settings(smtp=smtp))
        monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "wrong")
        channel = SmtpTransport.from_settings(Settings(smtp=smtp)).open_channel()
        with pytest.raises(TransportUnavailable, match="refused the login for news: 535"):
            channel.send("a@example.org", "b@example.org", DATA)


def test_starttls_required_but_not_offered() -> None:
    with RecordingServer() as srv:
        channel = SmtpTransport("127.0.0.1", srv.port, security="starttls").open_channel()
        with pytest.raises(TransportUnavailable, match="does not offer STARTTLS"):
            channel.send("a@example.org", "b@example.org", DATA)


def test_a_username_without_a_security_setting_requires_starttls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "s3cret")
    with RecordingServer(server_options={"auth_require_tls": False}) as srv:
        settings = Settings(smtp=Smtp(host="127.0.0.1", port=srv.port, username="news"))
        channel = SmtpTransport.from_settings(settings).open_channel()
        with pytest.raises(TransportUnavailable, match="does not offer STARTTLS; refusing"):
            channel.send("a@example.org", "b@example.org", DATA)
    assert srv.messages == []


def _plain_auth_server(attempts: list[bytes]) -> RecordingServer:
    def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        attempts.append(data.password)
        return _authenticator(server, session, envelope, mechanism, data)

    return RecordingServer(
        server_options={"auth_require_tls": False, "authenticator": authenticator}
    )


def test_auth_in_clear_only_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "s3cret")
    attempts: list[bytes] = []
    with _plain_auth_server(attempts) as srv:
        smtp = Smtp(host="127.0.0.1", port=srv.port, security="none", username="news")
        channel = SmtpTransport.from_settings(Settings(smtp=smtp)).open_channel()
        assert channel.send("a@example.org", "b@example.org", DATA).status == "sent"
        channel.close()
    assert attempts == [b"s3cret"]


def test_auth_in_clear_to_another_machine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may only reach 127.0.0.1, so the transport is told this server is elsewhere."""
    import newsletter.transports.smtp as smtp_module

    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "s3cret")
    monkeypatch.setattr(smtp_module, "is_loopback", lambda address: False)
    attempts: list[bytes] = []
    with _plain_auth_server(attempts) as srv:
        t = SmtpTransport("127.0.0.1", srv.port, username="news", password="s3cret")
        channel = t.open_channel()
        with pytest.raises(TransportUnavailable) as info:
            channel.send("a@example.org", "b@example.org", DATA)
    assert str(info.value) == (
        f"refusing to send the password for news to 127.0.0.1:{srv.port} in clear; "
        'set [smtp] security = "starttls" or "tls"'
    )
    assert attempts == [] and srv.messages == []
