"""A reader signs up through the live server and confirms: the two mails they receive.

The mails are taken from the Maildir the server's outbox delivers to, so
they are the bytes a mail client would get.
"""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from web_helpers import WebWorld, csrf_of, submit

from newsletter import languages
from newsletter.render.mails import (
    ConfirmationMail,
    InvitationMail,
    ReminderMail,
    SubscriptionMail,
    WelcomeMail,
)

CONFIRM = re.compile(r"https?://\S+/confirm/[A-Za-z0-9_-]+")
WELCOME = (
    "subject: Welcome to “Lettre de l'Observatoire” & more\n"
    "paragraphs:\n"
    "  - \"Nice to have you & your friends <here>: we write once a month about the cities'"
    ' work on climate, industry and trade, in German, English and Chinese."\n'
)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=default)  # type: ignore[return-value]


def delivered(w: WebWorld) -> list[bytes]:
    """Every message in the outbox Maildir, oldest first."""
    folder = w.tmp / "outbox" / "new"
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    return [p.read_bytes() for p in files]


def sign_up_and_confirm(
    w: WebWorld, *, name: str = "O'Brien & Söhne", language: str = "en", **web: object
) -> tuple[bytes, bytes]:
    """Serve, sign up, follow the link in the confirmation mail: (confirmation, welcome)."""
    welcome_dir = w.tmp / "welcome"
    welcome_dir.mkdir(exist_ok=True)
    (welcome_dir / "news.yaml").write_text(WELCOME, encoding="utf-8")
    live = w.serve(welcome_dir=str(welcome_dir), **web)
    with w.client() as c:
        answer = submit(c, "/subscribe/news", email="reader@example.org", name=name,
                        language=language)  # fmt: skip
        assert answer.status_code == 200, answer.text
        live.drain()
        (confirmation,) = delivered(w)
        (link,) = set(CONFIRM.findall(parse(confirmation).get_body(("plain",)).get_content()))
        page = c.get(link)
        assert c.post(link, data={"csrf": csrf_of(page.text)}).status_code == 200
    live.drain()
    first, welcome = delivered(w)
    assert first == confirmation
    return confirmation, welcome


def html_of(data: bytes) -> str:
    return parse(data).get_body(("html",)).get_content()


def text_of(data: bytes) -> str:
    return parse(data).get_body(("plain",)).get_content()


def write_override(folder: Path, marker: str) -> None:
    """An organisation's ``mail/confirmation.mjml.j2`` that extends the default one."""
    (folder / "mail").mkdir(parents=True, exist_ok=True)
    (folder / "mail" / "confirmation.mjml.j2").write_text(
        '{% extends "default/mail/confirmation.mjml.j2" %}\n'
        '{% block content %}<mj-text><p class="nl-p">' + marker + "</p></mj-text>"
        "{{ super() }}{% endblock %}\n",
        encoding="utf-8",
    )


# One example of each kind, with text that needs escaping, for the rendering tests.
LANGUAGES = sorted(languages.available())  # the 16 shipped catalogs

URL = "https://newsletter.example.org/confirm/" + "x" * 90


def example(kind: str, language: str) -> SubscriptionMail:
    examples: dict[str, SubscriptionMail] = {
        "confirmation": ConfirmationMail(language, "Lettre de l'Observatoire", URL, 7),
        "welcome": WelcomeMail(
            language, "ISA & <Freunde>", "Willkommen, O'Brien & Söhne", ("A & B <c>.",), URL
        ),
        "invitation": InvitationMail(
            language, "ISA & <Freunde>", "Müller & Söhne", URL, 7, 30, "Members <all> & friends"
        ),
        "reminder": ReminderMail(
            language, "ISA & <Freunde>", "Müller & Söhne", URL, 7, 30, "Members <all> & friends"
        ),
    }
    return examples[kind]
