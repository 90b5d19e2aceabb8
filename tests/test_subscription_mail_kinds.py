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
from subscription_mail_helpers import LANGUAGES, URL, example

from newsletter import languages
from newsletter.i18n import get_locale
from newsletter.message.placeholders import ALL as PLACEHOLDERS
from newsletter.render.html import Theme
from newsletter.render.mails import (
    KINDS,
    ConfirmationMail,
    ReminderMail,
    WelcomeMail,
    mail_text,
    render_mail,
)
from newsletter.render.wrap import display_width


def test_every_registered_kind_has_an_example_here() -> None:
    assert set(KINDS) == {"confirmation", "invitation", "reminder", "welcome"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_in_every_language(tmp_path: Path, kind: str, language: str) -> None:
    rendered = render_mail(example(kind, language), make_settings(tmp_path), Theme())
    assert rendered.language == language
    # The direction comes from CLDR, as for an issue: Arabic is the one right-to-left catalog.
    direction = "rtl" if language == "ar" else "ltr"
    assert re.search(rf'<html lang="{language}" dir="{direction}"', rendered.html)
    assert "&amp;lt;" not in rendered.html and "&amp;amp;" not in rendered.html  # escaped once
    flat = " ".join(rendered.text.split())  # an "&" may end a wrapped line
    assert "&" not in flat.replace(" & ", "")  # only the literal ampersands
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


def squash(text: str) -> str:
    """Without whitespace: the text part wraps (a CJK line breaks between any two characters)."""
    return "".join(text.split())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["invitation", "reminder"])
def test_an_invitation_and_its_reminder_say_who_why_and_what_is_stored(
    tmp_path: Path, kind: str, language: str
) -> None:
    """Every sentence of the invitation comes from the language's own strings, with one button."""
    loc = get_locale(language)
    mail = example(kind, language)
    rendered = render_mail(mail, make_settings(tmp_path), Theme())
    text = squash(rendered.text)
    org, name = "Müller & Söhne", "ISA & <Freunde>"
    wanted = [
        loc["mail_invite_text"].format(org=org, list=name),
        loc["mail_invite_reason"].format(reason="Members <all> & friends"),
        loc["mail_invite_stored"].format(org=org, expire=30),
        loc["mail_why_invite"].format(org=org, list=name),
    ]
    if kind == "reminder":
        wanted.append(loc["mail_reminder_text"].format(list=name))
        assert rendered.subject == loc["mail_reminder_subject"].format(list=name)
    else:
        assert rendered.subject == loc["mail_invite_subject"].format(org=org, list=name)
    for sentence in wanted:
        assert squash(sentence) in text, sentence
    assert (
        squash(loc["mail_confirm_ignore"].split(":")[0]) not in text
    )  # nothing untrue about storage
    assert rendered.html.count(f">{loc['mail_invite_button']}<") == 1
    assert set(re.findall(r'<a [^>]*href="([^"]+)"', rendered.html)) == {URL}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reminder_of_a_form_sign_up_repeats_the_confirmation(
    tmp_path: Path, language: str
) -> None:
    loc = get_locale(language)
    mail = ReminderMail(language, "News", "ISA", URL, 7, 30, None, invited=False)
    text = squash(render_mail(mail, make_settings(tmp_path), Theme()).text)
    assert squash(loc["mail_reminder_text"].format(list="News")) in text
    assert squash(loc["mail_confirm_text"].format(list="News")) in text
    assert squash(loc["mail_reminder_ignore"]) in text
    assert squash(loc["mail_why_signup"].format(list="News")) in text
    assert squash(loc["mail_invite_text"].format(org="ISA", list="News")) not in text


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
