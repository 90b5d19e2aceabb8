"""The sections about the sender and how an issue looks: ``[organisation]``, ``[media]``.

What a reader sees in every issue (footer, theme colours, images) is decided here, apart from
how the mail travels (:mod:`newsletter.config.sending`), so an editor changing the masthead
reads one short file. Each field is declared with :func:`~newsletter.configschema.setting`;
:mod:`newsletter.config` explains how to add one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.configschema import (
    Address,
    Boolean,
    Colour,
    FilePath,
    Integer,
    Lines,
    OneOf,
    Text,
    Url,
    setting,
)


@dataclass(frozen=True)
class Colours:
    """The theme's colours (`#rrggbb` or `#rgb`)."""

    primary: str = setting("#1f4e79", Colour(), "Headings and the masthead.", example="#a3111c")
    accent: str = setting(
        "#c0392b",
        Colour(),
        "Buttons; their label is white, or the text colour where white would be unreadable.",
        example="#a3111c",
    )
    text: str = setting("#1a1a1a", Colour(), "Body text.", example="#1a1a1a")
    muted: str = setting("#5c5c5c", Colour(), "Captions, dates and the footer.", example="#595959")
    background: str = setting("#f2f4f7", Colour(), "Around the message.", example="#f2f2f2")
    surface: str = setting("#ffffff", Colour(), "Behind the text.", example="#ffffff")


@dataclass(frozen=True)
class Organisation:
    """Who sends the newsletter; every rendered issue carries this in its footer."""

    name: str = setting(
        "Example Newsletter", Text(one_line=True), "The organisation's name.", example="Riverside"
    )
    website: str = setting(
        "https://example.org", Url(), "Linked from the footer.", example="https://example.net"
    )
    sender_name: str = setting(
        "Example Newsletter",
        Text(one_line=True),
        "Display name in the From header.",
        example="ISA-Newsletter",
    )
    sender_email: str = setting(
        "newsletter@example.org",
        Address(),
        "Address in From and the envelope sender (Return-Path) unless VERP is on; "
        "also the DKIM domain unless `dkim.domain` is set.",
        example="newsletter@example.org",
    )
    reply_to: str | None = setting(
        None,
        Address(),
        "Reply-To header; replies go to From without it.",
        example="isa@example.org",
    )
    postal_address: str = setting(
        "Example Street 1, 12345 Example City",
        Text(),
        "Postal address in the footer (required by CAN-SPAM and the German Impressum rules).",
        example="Reinhardtstraße 34, 10117 Berlin",
    )
    about: tuple[str, ...] = setting(
        (), Lines(), "Paragraphs about the organisation, in the footer.", example=["We are …"]
    )
    contact: tuple[str, ...] = setting(
        (),
        Lines(),
        "Contact block in the footer; the first line is its heading.",
        example=["Contact", "hello@example.org"],
    )
    logo: str | None = setting(
        None, Url(), "Image URL shown in the header.", example="https://example.org/logo.png"
    )
    logo_alt: str | None = setting(
        None,
        Text(one_line=True),
        "Alt text of the logo.",
        default_doc="the organisation's name",
        example="Riverside Makerspace logo",
    )
    language: str = setting(
        "en",
        Text(one_line=True),
        "Language of the footer and dates: a BCP 47 tag with a translation catalog "
        "(docs/languages.md), e.g. `fr`, `zh-Hans`, `ar`.",
        example="de",
    )
    templates_dir: str | None = setting(
        None,
        FilePath(),
        "Folder whose templates override the default theme's, file by file (relative to this "
        "file).",
        example="templates",
    )
    contents: bool = setting(
        False,
        Boolean(),
        'An "In this issue" list of the article titles, each a jump to its article, before the '
        "editorial (issues with two articles or more).",
        example=True,
    )
    colours: Colours = field(default_factory=Colours)


@dataclass(frozen=True)
class Media:
    """The editor's local images (`image: {src: img/photo.jpg}`): how subscribers get them.

    `hosted` publishes them with the web archive and the mail loads them from `base_url`,
    which tells that server when a reader opened the mail, from which address; `inline`
    embeds them in every message (larger mail, no request when it is opened).
    """

    mode: str = setting(
        "hosted",
        OneOf(("hosted", "inline")),
        "`hosted`: images under `<base_url>/archive/media/`, published by `archive build` "
        "and `serve`; `inline`: images embedded in each message (`multipart/related`), so "
        "opening it requests nothing.",
        example="inline",
    )
    column_width: int = setting(
        552,
        Integer(100, 1200),
        "Width in CSS pixels images are fitted to (the theme's column less its padding); "
        "the file is twice as wide for high-density screens.",
        example=552,
    )
