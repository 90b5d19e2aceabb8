"""Composed messages: standard headers, both parts, placeholders, DKIM, no tracking."""

from __future__ import annotations

import base64
import datetime as dt
import email
import quopri
import random
import re
import subprocess
from dataclasses import replace
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import dkim
import pytest
from delivery_helpers import ROOT, FakeRendered, make_settings

from newsletter.config import Dkim
from newsletter.message import qp
from newsletter.message.compose import MailingListInfo, MessageTemplate, Recipient
from newsletter.message.dkim import signer_from_settings
from newsletter.message.placeholders import RECIPIENT_NAME, UNSUBSCRIBE_URL
from newsletter.tokens import TokenError, token_key, unsubscribe_token, verify
from newsletter.transports import DotSafe

KEY = token_key(b"test secret")


def _template(tmp_path: Path, rendered: object = None, **kw: object) -> MessageTemplate:
    return MessageTemplate.build(
        rendered or FakeRendered(),  # type: ignore[arg-type]
        make_settings(tmp_path),
        MailingListInfo("news", "ISA-Newsletter"),
        language="de",
        **kw,  # type: ignore[arg-type]
    )


def _recipient(i: int, name: str | None = "Jörg Müller") -> Recipient:
    return Recipient(
        f"user{i}@example.com", name, unsubscribe_token(KEY, i, 1), f"c0ffee.{i}@isa.example.org"
    )


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=default)  # type: ignore[return-value]


def test_headers_and_parts(tmp_path: Path) -> None:
    msg = _parse(_template(tmp_path).compose(_recipient(7)))
    assert msg["From"] == "ISA-Newsletter <newsletter@isa.example.org>"
    assert msg["Reply-To"] == "isa@isa.example.org"
    assert msg["To"] == "Jörg Müller <user7@example.com>"
    assert msg["Subject"] == "Neuigkeiten aus der Städteallianz"
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"] == "<c0ffee.7@isa.example.org>"
    assert msg["List-Id"] == "ISA-Newsletter <news.isa.example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text = _content(msg, "plain")
    html = _content(msg, "html")
    assert text.startswith("Hallo Jörg Müller,\n")
    assert "Hallo Jörg Müller,</p>" in html
    for part in msg.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"


def test_list_unsubscribe_carries_a_valid_token_in_https_and_mailto(tmp_path: Path) -> None:
    msg = _parse(_template(tmp_path).compose(_recipient(42)))
    https, mailto = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert https.startswith("https://newsletter.example.org/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe@isa.example.org?subject=unsubscribe%20")
    token = https.rsplit("/", 1)[1]
    assert mailto.endswith(token)
    assert verify(KEY, "unsubscribe", token) == ["42", "1"]
    with pytest.raises(TokenError):
        verify(KEY, "unsubscribe", token[:-1] + ("a" if token[-1] != "a" else "b"))
    with pytest.raises(TokenError):
        verify(KEY, "bounce", token)
    # the same link is in both footers
    for subtype in ("plain", "html"):
        assert https in _content(msg, subtype)


def test_html_name_is_escaped_and_text_name_is_not(tmp_path: Path) -> None:
    msg = _parse(_template(tmp_path).compose(_recipient(1, name="Tom & <Jerry>")))
    assert "Hallo Tom &amp; &lt;Jerry&gt;," in _content(msg, "html")
    assert "Hallo Tom & <Jerry>," in _content(msg, "plain")


def test_recipient_without_name_gets_the_fallback(tmp_path: Path) -> None:
    t = _template(tmp_path, name_fallback="Leserin, lieber Leser")
    msg = _parse(t.compose(_recipient(1, name=None)))
    assert msg["To"] == "user1@example.com"
    assert "Hallo Leserin, lieber Leser," in _content(msg, "plain")


def test_lines_are_short_crlf_and_never_start_with_a_dot(tmp_path: Path) -> None:
    data = _template(tmp_path).compose(_recipient(1, name="." + "Ä" * 90))
    assert b"\n" not in data.replace(b"\r\n", b"")
    body = data.split(b"\r\n\r\n", 1)[1]
    for line in body.split(b"\r\n"):
        assert len(line) <= 76
        assert not line.startswith(b".")
    # so the SMTP transport sends it without looking for dots to stuff
    assert isinstance(data, DotSafe) and not data.startswith(b".") and b"\n." not in data


def test_a_template_with_a_line_starting_with_a_dot_is_not_dot_safe(tmp_path: Path) -> None:
    # as if a future part were not quoted-printable: the transport must look
    t = MessageTemplate(
        [b"Subject: x\r\n\r\n.hidden\r\n"], [], "https://e.example.org", "u@example.org", "", None
    )
    data = t.compose(_recipient(1))
    assert not isinstance(data, DotSafe) and b"\n.hidden" in data


def test_no_line_on_the_wire_starts_with_from(tmp_path: Path) -> None:
    # mbox readers (and some MTAs) turn a leading "From " into ">From ": encoded, it survives
    text = (
        "From the editor:\n"
        + "x" * 75
        + "From here on, a soft break puts this at the start of a line\n"
        + "%%RECIPIENT_NAME%%\n"
        + FakeRendered().text
    )
    rendered = replace(FakeRendered(), text=text)
    data = _template(tmp_path, rendered).compose(_recipient(1, name="From Hamburg"))
    body = data.split(b"\r\n\r\n", 1)[1]
    assert not [line for line in body.split(b"\r\n") if line.startswith(b"From ")]
    assert b"=46rom the editor:" in body
    content = _content(_parse(data), "plain")
    assert content.startswith(text.split("%%")[0] + "From Hamburg\n")


@pytest.mark.parametrize("seed", range(3))
def test_placeholders_survive_quoted_printable_at_any_position(seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = [*"ab c.=\tFäö€\n", "From ", UNSUBSCRIBE_URL, RECIPIENT_NAME]
    for _ in range(300):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 300)))
        values = {
            UNSUBSCRIBE_URL: "https://n.example.org/unsubscribe/" + "t" * rnd.randint(0, 120),
            RECIPIENT_NAME: rnd.choice(["Jörg ", "", ".dot", "From X", "é" * 50]),
        }
        encoded = qp.encode(text, values)
        for key, value in values.items():
            encoded = encoded.replace(key, qp.encode_value(value))
        expected = text
        for key, value in values.items():
            expected = expected.replace(key, value)
        for line in encoded.split("\r\n"):
            assert len(line) <= 76 and not line.startswith(".")
            assert not line.endswith((" ", "\t"))
        decoded = quopri.decodestring(encoded.encode()).decode().replace("\r\n", "\n")
        assert decoded == expected


def _content(msg: EmailMessage, subtype: str) -> str:
    """A part's decoded text with LF line ends (the parser keeps the wire's CRLF)."""
    part = msg.get_body((subtype,))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def _links(msg: EmailMessage) -> list[str]:
    out = []
    for part in msg.iter_parts():
        out += re.findall(r"https?://[^\s\"'<>]+", part.get_content())
    return out


@pytest.fixture(scope="module")
def isa_issue() -> object:
    from newsletter.config import load_settings
    from newsletter.issue.load import load_issue
    from newsletter.render import render_issue

    return render_issue(
        load_issue(ROOT / "issues" / "2021-07.yaml"), load_settings(ROOT / "newsletter.toml")
    )


LINKED = FakeRendered(
    html="".join(
        f'<p><a href="https://example.org/article/{i}?utm=x&amp;a=b">Artikel {i}</a>'
        f'<img src="https://example.org/img/{i}.jpg" alt="Bild {i}" width="600"></p>'
        for i in range(20)
    )
    + FakeRendered().html,
    text="".join(f"Artikel {i}: https://example.org/article/{i}?utm=x&a=b\n" for i in range(20))
    + FakeRendered().text,
)


@pytest.mark.parametrize("which", ["isa", "linked"])
def test_no_tracking_every_byte_but_the_personal_ones_is_identical(
    tmp_path: Path, isa_issue: object, which: str
) -> None:
    """No pixel, no redirect: only To, Message-ID and the recipient's token may differ.

    The token is in two links, unsubscribe and manage, and nowhere else.
    """
    t = _template(tmp_path, isa_issue if which == "isa" else LINKED)
    recipients = [_recipient(i, name="Leser") for i in range(3)]
    messages = [_parse(t.compose(r)) for r in recipients]
    links = [_links(m) for m in messages]
    assert len(links[0]) >= (4 if which == "isa" else 60)
    tokens = [r.unsubscribe_token for r in recipients]
    personal = [{u for u in ls if token in u} for ls, token in zip(links, tokens, strict=True)]
    shared = [[u for u in ls if token not in u] for ls, token in zip(links, tokens, strict=True)]
    assert shared[0] == shared[1] == shared[2]
    base = "https://newsletter.example.org"
    expected = {"isa": ("unsubscribe", "manage"), "linked": ("unsubscribe",)}[which]
    for token, found in zip(tokens, personal, strict=True):
        assert found == {f"{base}/{route}/{token}" for route in expected}
    # apart from the personal headers and the token, the bodies are byte-identical
    bodies = []
    for token, m in zip(tokens, messages, strict=True):
        bodies.append(m.as_bytes().split(b"\n\n", 1)[1].replace(token.encode(), b"TOKEN"))
    assert bodies[0] == bodies[1] == bodies[2]
    html = _content(messages[0], "html")
    for img in re.findall(r"<img[^>]+>", html):
        assert 'width="1"' not in img and "height:1px" not in img.replace(" ", "")


def test_view_in_browser_unsubscribe_and_manage_are_in_the_rendered_footer(
    tmp_path: Path, isa_issue: object
) -> None:
    msg = _parse(_template(tmp_path, isa_issue).compose(_recipient(3)))
    for subtype in ("plain", "html"):
        content = _content(msg, subtype)
        assert "https://newsletter.example.org/archive/2021-07/" in content
        assert "https://newsletter.example.org/unsubscribe/3-1-" in content
        assert "https://newsletter.example.org/manage/3-1-" in content


def test_dkim_signature_verifies(tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl2024._domainkey.isa.example.org."
        return record

    settings = replace(make_settings(tmp_path), dkim=Dkim(selector="nl2024", key_file=str(key)))
    signer = signer_from_settings(settings)  # the domain defaults to the sender's
    assert signer is not None and signer_from_settings(make_settings(tmp_path)) is None
    data = _template(tmp_path, sign=signer).compose(_recipient(5))
    assert data.startswith(b"DKIM-Signature:") and isinstance(data, DotSafe)
    assert dkim.verify(data, dnsfunc=dns)
    header = _parse(data)["DKIM-Signature"].replace(" ", "").replace("\r\n", "")
    signed = re.search(r"h=([^;]+)", header).group(1).lower().split(":")  # type: ignore[union-attr]
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ):
        assert name in signed
    tampered = data.replace(b"unsubscribe/5-1-", b"unsubscribe/6-1-")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_line_breaks_in_subject_sender_and_list_name_become_spaces(tmp_path: Path) -> None:
    # a YAML block scalar ("subject: |") or a pasted list name can carry them
    settings = make_settings(tmp_path)
    org = replace(settings.organisation, sender_name="ISA\r\nBcc: x@example.net")
    template = MessageTemplate.build(
        FakeRendered(subject="Neuigkeiten\naus der\u2028Städteallianz\r\n"),
        replace(settings, organisation=org),
        MailingListInfo("news", "ISA\nNewsletter"),
    )
    data = template.compose(_recipient(1, name="Jörg\u2028Müller"))
    msg = _parse(data)
    assert msg["Subject"] == "Neuigkeiten aus der Städteallianz"
    assert msg["From"] == '"ISA Bcc: x@example.net" <newsletter@isa.example.org>'
    assert msg["List-Id"] == "ISA Newsletter <news.isa.example.org>"
    assert msg["To"] == "Jörg Müller <user1@example.com>"
    assert msg["Bcc"] is None and not msg.defects
    assert _content(msg, "plain").startswith("Hallo Jörg Müller,\n")


def test_an_international_domain_is_written_in_ascii(tmp_path: Path) -> None:
    # email-validator stores the Unicode form, even when the ASCII one was imported
    data = _template(tmp_path).compose(
        Recipient("anna@bücher.example.org", "Anna", "tok-abc", "c0ffee.1@isa.example.org")
    )
    assert b"\r\nTo: Anna <anna@xn--bcher-kva.example.org>\r\n" in b"\r\n" + data
    assert _parse(data)["To"].addresses[0].domain == "xn--bcher-kva.example.org"


def test_a_non_ascii_mailbox_name_is_written_in_utf8(tmp_path: Path) -> None:
    # RFC 6532: only over SMTPUTF8, which the SMTP transport asks for
    data = _template(tmp_path).compose(
        Recipient("jörg@straße.example", "Jörg Müller", "tok-abc", "c0ffee.1@isa.example.org")
    )
    to = next(line for line in data.split(b"\r\n") if line.startswith(b"To: "))
    assert to.endswith(" <jörg@xn--strae-oqa.example>".encode())
    assert _parse(data)["To"].addresses[0].display_name == "Jörg Müller"


class _Greeting:
    subject = "Gruß"
    html = "<html><body><p>%%GREETING%%</p><a href='%%UNSUBSCRIBE_URL%%'>x</a></body></html>"
    text = "%%GREETING%%\n\nAbmelden: %%UNSUBSCRIBE_URL%%\n"


@pytest.mark.parametrize(
    ("language", "name", "text", "html"),
    [
        ("de", "Jörg Müller", "Hallo Jörg Müller,", "Hallo Jörg Müller,"),
        ("de", None, "Hallo,", "Hallo,"),
        ("en", "Tom & <Jerry>", "Hello Tom & <Jerry>,", "Hello Tom &amp; &lt;Jerry&gt;,"),
        ("en", "", "Hello,", "Hello,"),
        ("zh", "王伟", "王伟，您好！", "王伟，您好！"),
        ("zh", None, "您好！", "您好！"),
    ],
)
def test_greeting_is_localised_and_never_leaves_a_gap(
    tmp_path: Path, language: str, name: str | None, text: str, html: str
) -> None:
    t = MessageTemplate.build(
        _Greeting(),  # type: ignore[arg-type]
        make_settings(tmp_path),
        MailingListInfo("news", "News"),
        language=language,
    )
    msg = _parse(t.compose(_recipient(3, name=name)))
    assert _content(msg, "plain").startswith(text + "\n")
    assert f"<p>{html}</p>" in _content(msg, "html")


def test_the_campaign_header_block_field_by_field(tmp_path: Path) -> None:
    """Pins every header of a campaign message; against the old composer the one difference is
    the new Feedback-ID (campaign:list:organisation:sender-id, Gmail's feedback loop)."""
    template = _template(
        tmp_path, date=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), campaign="c0ffee"
    )
    head = template.compose(_recipient(7)).split(b"\r\n\r\n")[0].decode("ascii")
    head = re.sub(r'boundary="=_[0-9a-f]{24}"', 'boundary="=_B"', head)
    token = unsubscribe_token(KEY, 7, 1)
    assert head.split("\r\n") == [
        "To: =?utf-8?b?SsO2cmcgTcO8bGxlcg==?= <user7@example.com>",
        "Message-ID: <c0ffee.7@isa.example.org>",
        f"List-Unsubscribe: <https://newsletter.example.org/unsubscribe/{token}>,",
        f" <mailto:unsubscribe@isa.example.org?subject=unsubscribe%20{token}>",
        'Content-Type: multipart/alternative; boundary="=_B"',
        "MIME-Version: 1.0",
        "From: ISA-Newsletter <newsletter@isa.example.org>",
        "Reply-To: isa@isa.example.org",
        "Subject: Neuigkeiten aus der =?utf-8?q?St=C3=A4dteallianz?=",
        "Date: Tue, 01 Dec 2026 09:00:00 +0000",
        "List-Id: ISA-Newsletter <news.isa.example.org>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Feedback-ID: c0ffee:news:isa.example.org:newsletter",
        "Content-Language: de",
    ]
