"""The confirmation and welcome mails as a reader's mail client receives them.

Each is signed up for and confirmed through the live server, delivered to a
Maildir, and read back: headers, both parts, the theme, DKIM.
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from delivery_helpers import FakeRendered
from subscription_mail_helpers import (
    html_of,
    parse,
    sign_up_and_confirm,
    text_of,
    write_override,
)

from newsletter.campaigns import sender, store
from newsletter.config import Dkim
from newsletter.errors import BadInput
from newsletter.render.wrap import display_width
from newsletter.transports import open_transport
from newsletter.web.app import create_app

ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", re.I)


def _unfolded(data: bytes, name: bytes) -> str:
    """The value of header ``name``, unfolded (a Maildir stores the lines with LF ends)."""
    head = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").split(b"\r\n\r\n")[0]
    (value,) = re.findall(rb"^" + name + rb":(.*?)\r\n(?![ \t])", head, re.M | re.S)
    return re.sub(rb"\r\n[ \t]", b" ", value).decode("ascii").strip()


def test_the_welcome_mails_list_unsubscribe_is_two_angle_bracketed_uris(web) -> None:
    """RFC 2369 receivers parse the angle brackets; the old welcome mail folded its mailto into
    RFC 2047 encoded words (=?utf-8?q?=3Cmailto…?=), so they saw only the https link."""
    _, welcome = sign_up_and_confirm(web)
    value = _unfolded(welcome, b"List-Unsubscribe")
    assert "=?" not in value
    https, mailto = re.fullmatch(r"<([^<>\s]+)>,\s*<([^<>\s]+)>", value).groups()  # type: ignore[union-attr]
    token = https.rpartition("/")[2]
    assert https == f"{web.url}/unsubscribe/{token}"
    assert mailto == f"mailto:unsubscribe@isa.example.org?subject=unsubscribe%20{token}"
    assert _unfolded(welcome, b"List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert _unfolded(welcome, b"List-Id") == "ISA-Newsletter <news.isa.example.org>"
    with web.client() as c:  # the one-click link in the header works
        assert c.post(https, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_a_confirmation_has_no_list_headers(web) -> None:
    """Its recipient is on no list yet: there is nothing to unsubscribe from."""
    confirmation, _ = sign_up_and_confirm(web)
    msg = parse(confirmation)
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None
    assert msg["Auto-Submitted"] == "auto-generated"
    assert b"O'Brien" not in confirmation and b"Brien" not in confirmation  # a stranger's words


def test_text_parts_are_wrapped_and_never_html_escaped(web) -> None:
    """The old text parts came from autoescaped templates (Hello O&#39;Brien &amp; Söhne,) and
    ran to 143 columns."""
    confirmation, welcome = sign_up_and_confirm(web)
    for data in (confirmation, welcome):
        text = text_of(data)
        assert not ENTITY.search(text), ENTITY.search(text)
        for line in text.splitlines():
            assert display_width(line) <= 78 or re.fullmatch(r"https?://\S+", line), line
    welcome_text = text_of(welcome)
    assert welcome_text.startswith("Hello O'Brien & Söhne,\n")
    assert "Nice to have you & your friends <here>:" in welcome_text
    assert "“ISA-Newsletter”" in welcome_text
    html = html_of(welcome)
    assert "Hello O&#x27;Brien &amp; Söhne," in html or "Hello O&#39;Brien &amp; Söhne," in html
    assert "&lt;here&gt;" in html and "<here>" not in html


def test_the_confirmation_says_nothing_untrue_about_what_is_stored(web) -> None:
    """The sign-up is stored until it expires; the old text said "nothing is stored"."""
    confirmation, _ = sign_up_and_confirm(web, language="de", name="")
    text = " ".join(text_of(confirmation).split())
    assert "nichts gespeichert" not in text
    assert "Die unbestätigte Anfrage wird nach 7 Tagen gelöscht; unser Versandprotokoll" in text
    assert text.startswith("Hallo, jemand, hoffentlich Sie, möchte diese Adresse")


@pytest.mark.parametrize("language", ["de", "en", "zh"])
def test_every_kind_carries_content_language_and_an_html_head_like_an_issue(
    web, language: str
) -> None:
    """The old mails set Content-Language and lost it to set_content(), and had no dir and no
    viewport."""
    for data in sign_up_and_confirm(web, language=language):
        msg = parse(data)
        assert msg["Content-Language"] == language
        html = html_of(data)
        assert re.search(rf'<html lang="{language}" dir="ltr"', html)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert 'role="presentation"' in html
        assert "<!-- " not in html.split("<body")[1].split(">")[0]


def test_campaign_mail_carries_content_language_and_feedback_id(world) -> None:
    """Feedback-ID is campaign:list:organisation:sender-id (Gmail's feedback loop); the old
    campaign mail had none."""
    world.add(1)
    cid = world.campaign(FakeRendered())
    sender.run_campaign(world.db, world.settings, cid, open_transport(world.settings))
    (path,) = (world.tmp / "outbox" / "new").iterdir()
    msg = parse(path.read_bytes())
    with world.db.session() as s:
        uid = store.get_campaign(s, cid).uid
    assert msg["Feedback-ID"] == f"{uid}:news:isa.example.org:newsletter"
    assert len(msg["Feedback-ID"].split(":")) == 4
    assert msg["Content-Language"] == "de"


def test_a_theme_override_of_the_confirmation_is_used(web) -> None:
    """An organisation's mail/confirmation.mjml.j2 replaces the default, found on the issue's
    theme search path; the old mails were HTML written outside the theme."""
    folder = web.tmp / "theme"
    write_override(folder, "Eine Nachricht aus unserem eigenen Theme")
    org = replace(web.settings.organisation, templates_dir=str(folder))
    web.settings = replace(web.settings, organisation=org)
    confirmation, welcome = sign_up_and_confirm(web)
    html = html_of(confirmation)
    assert "Eine Nachricht aus unserem eigenen Theme" in html
    assert "Confirm subscription" in html  # super(): the default content follows
    assert "Eine Nachricht" not in html_of(welcome)


def test_subscription_mails_are_dkim_signed_and_oversigned(web, tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    web.settings = replace(web.settings, dkim=Dkim(selector="nl", key_file=str(key)))
    for data in sign_up_and_confirm(web):
        assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)
        signature = _unfolded(data, b"DKIM-Signature")
        h = re.search(r"\bh=([^;]+);", signature)
        assert h is not None
        names = re.split(r"\s*:\s*", h.group(1))
        assert names.count("From") == 2
        listed = parse(data)["List-Unsubscribe-Post"] is not None
        assert names.count("List-Unsubscribe-Post") == 1 + listed
        assert "Content-Language" in names


def test_a_broken_override_stops_the_server_at_its_start_naming_file_and_line(web) -> None:
    """Not every confirmation failing at sending time, logged where nobody looks."""
    folder = web.tmp / "theme"
    (folder / "mail").mkdir(parents=True)
    broken = folder / "mail" / "confirmation.mjml.j2"
    broken.write_text('{% extends "mail/base.mjml.j2" %}\n{% block content %}{% if %}\n')
    org = replace(web.settings.organisation, templates_dir=str(folder))
    with pytest.raises(BadInput, match=rf"^{re.escape(str(broken))}:2: template error: "):
        create_app(replace(web.settings, organisation=org), web.db)
