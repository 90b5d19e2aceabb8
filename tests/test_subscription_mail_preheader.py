"""The inbox preview of the subscription mails: a preheader in the reader's language.

Mail clients show the first text of the HTML body after the subject. Without a
preheader, the confirmation's preview was the organisation's name and "Hello, …";
now every kind opens with a hidden line of its own (as an issue does), and the
plain-text part, which clients show as it is, does not carry it.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from delivery_helpers import make_settings
from subscription_mail_helpers import (
    LANGUAGES,
    example,
    html_of,
    parse,
    sign_up_and_confirm,
    text_of,
)

from newsletter.i18n import get_locale
from newsletter.render.html import Theme
from newsletter.render.mails import KINDS, render_mail

VOID = {"meta", "link", "br", "img", "hr", "input", "col", "area", "base", "wbr", "source"}


class FirstText(HTMLParser):
    """The body's first text and whether an element around it is ``display:none``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []  # the style attribute of each open element in body
        self.in_body = False
        self.text: str | None = None
        self.hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
        elif self.in_body and tag not in VOID:
            self.open.append((dict(attrs).get("style") or "").replace(" ", ""))

    def handle_endtag(self, tag: str) -> None:
        if self.in_body and self.open and tag not in VOID:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        words = data.replace("\u200c", "").strip()
        if self.in_body and self.text is None and words:
            self.text = words
            self.hidden = any("display:none" in style for style in self.open)


def first_text(html: str) -> tuple[str | None, bool]:
    p = FirstText()
    p.feed(html)
    return p.text, p.hidden


def expected(kind: str, language: str) -> str:
    mail = example(kind, language)
    return mail.preheader(get_locale(language))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_opens_with_its_hidden_preheader_and_the_text_part_has_none(
    tmp_path: Path, kind: str, language: str
) -> None:
    rendered = render_mail(example(kind, language), make_settings(tmp_path), Theme())
    preheader = expected(kind, language)
    english = expected(kind, "en")
    assert preheader and (language == "en") == (preheader == english)  # translated
    assert first_text(rendered.html) == (preheader, True)
    assert preheader not in rendered.text
    assert english not in rendered.text


def test_the_delivered_mails_in_german_open_with_their_preheader(web) -> None:
    confirmation, welcome = sign_up_and_confirm(web, language="de")
    for data, preheader in (
        (confirmation, "Ein Klick bestätigt es. Wenn Sie das nicht waren, ignorieren Sie"),
        (welcome, "Ihr Abonnement von „"),
    ):
        assert parse(data)["Content-Language"] == "de"
        text, hidden = first_text(html_of(data))
        assert text is not None and text.startswith(preheader) and hidden, text
        assert preheader not in text_of(data)


def test_the_preheader_is_not_shown_in_the_opened_mail(browser, tmp_path: Path) -> None:
    rendered = render_mail(example("confirmation", "fr"), make_settings(tmp_path), Theme())
    preheader = expected("confirmation", "fr")
    assert preheader.startswith("Un clic suffit pour confirmer.")
    page = browser.new_page(viewport={"width": 600, "height": 800})
    try:
        page.set_content(rendered.html)
        assert preheader in page.content()
        assert preheader not in page.inner_text("body")
        assert not page.get_by_text(preheader).is_visible()
    finally:
        page.close()
