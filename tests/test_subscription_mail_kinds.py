"""Every kind of subscription mail in every language, and the text part's wrapping as a property.

A kind added to ``render.mails.KINDS`` without an example here, a template or
its strings in every shipped catalog fails this module.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from delivery_helpers import make_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter import languages
from newsletter.i18n import get_locale
from newsletter.message.placeholders import ALL as PLACEHOLDERS
from newsletter.render.html import Theme
from newsletter.render.mails import (
    KINDS,
    ConfirmationMail,
    SubscriptionMail,
    WelcomeMail,
    mail_text,
    render_mail,
)
from newsletter.render.wrap import display_width

LANGUAGES = sorted(languages.available())  # the 16 shipped catalogs

URL = "https://newsletter.example.org/confirm/" + "x" * 90


def example(kind: str, language: str) -> SubscriptionMail:
    examples: dict[str, SubscriptionMail] = {
        "confirmation": ConfirmationMail(language, "Lettre de l'Observatoire", URL, 7),
        "welcome": WelcomeMail(
            language, "ISA & <Freunde>", "Willkommen, O'Brien & Söhne", ("A & B <c>.",), URL
        ),
    }
    return examples[kind]


def test_every_registered_kind_has_an_example_here() -> None:
    assert set(KINDS) == {"confirmation", "welcome"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_in_every_language(tmp_path: Path, kind: str, language: str) -> None:
    rendered = render_mail(example(kind, language), make_settings(tmp_path), Theme())
    assert rendered.language == language
    # The direction comes from CLDR, as for an issue: Arabic is the one right-to-left catalog.
    direction = "rtl" if language == "ar" else "ltr"
    assert re.search(rf'<html lang="{language}" dir="{direction}"', rendered.html)
    assert "&amp;lt;" not in rendered.html and "&amp;amp;" not in rendered.html  # escaped once
    assert "&" not in rendered.text.replace(" & ", "")  # only the literal ampersands
    wants_links = KINDS[kind].to_subscriber
    for placeholder in PLACEHOLDERS[:2]:  # the unsubscribe and manage links
        assert (placeholder in rendered.text) is wants_links
        assert (placeholder in rendered.html) is wants_links


def test_an_arabic_confirmation_is_right_to_left_down_to_its_button(tmp_path: Path) -> None:
    """The direction comes from CLDR (languages.direction) and reaches the button too.

    Fails on the frame that hard-coded ``align="left"`` for the button.
    """
    mail = ConfirmationMail("ar", "نشرة المرصد", URL, 7)
    html = render_mail(mail, make_settings(tmp_path), Theme()).html
    assert re.search(r'<html lang="ar" dir="rtl"', html)
    assert re.search(r'<td class="nl-button" align="right"', html)
    assert "text-align:right" in html
    latin = render_mail(example("confirmation", "de"), make_settings(tmp_path), Theme()).html
    assert re.search(r'<td class="nl-button" align="left"', latin)


_words = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S"), exclude_characters="%"),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_words, min_size=1, max_size=40).map(" ".join), max_size=4),
    st.sampled_from(LANGUAGES),
)
def test_the_text_part_keeps_every_word_and_wraps_at_78(
    paragraphs: list[str], language: str
) -> None:
    mail = WelcomeMail(language, "News", "Hello", tuple(paragraphs), None)
    text = mail_text(mail, get_locale(language), make_settings(Path("/nonexistent")))
    cjk = languages.is_cjk(language)
    for line in text.splitlines():
        # A line over 78 columns is a single piece nothing could break (a URL, a long word).
        assert display_width(line, cjk) <= 78 or " " not in line.strip(), line
    flat = "".join(text.split())
    for p in paragraphs:
        assert "".join(p.split()) in flat  # nothing escaped, dropped or added inside
