"""Text in another language than the issue's: ``lang``/``dir`` attributes, fonts by script.

A Chinese article in a German issue is marked ``lang="zh"`` so screen readers
switch voice and browsers pick Simplified Chinese glyphs and line breaking;
an Arabic one also gets ``dir="rtl"`` so it reads and aligns right to left.

Fonts go by script, not by list: a stack that names CJK families before
``sans-serif`` sets German text in a CJK font wherever the Latin families
before them are missing (measured on Debian: German paragraphs in
``Noto Sans CJK SC``, with full-width gaps in „…“). So Latin, Cyrillic and
Greek get a Latin-only stack; each CJK language its own (Simplified and
Traditional Chinese, Japanese and Korean draw the same code points with
different glyphs); Arabic its own. A CJK stack keeps Latin families after
its own, for the Latin words inside Chinese text.
"""

from __future__ import annotations

from markupsafe import Markup

from newsletter import languages


def fonts_for(language: str | None) -> str:
    """The font stack for text in ``language``: its script's, else the Latin-first one."""
    return languages.font_stack(language)


def is_cjk(language: str | None) -> bool:
    return languages.is_cjk(language)


def direction(language: str | None) -> str:
    return languages.direction(language)


def language_of(item: object) -> str | None:
    """The ``language`` an article, event or paragraph declares, if any (plain text has none)."""
    return getattr(item, "language", None)


class LanguageMarks:
    """The template helpers for one issue; a mark is written only where the language changes."""

    def __init__(self, issue_language: str) -> None:
        self.issue_language = issue_language

    def _marks(self, language: str, around: str) -> Markup:
        dir_ = direction(language)
        dir_attr = Markup(' dir="{}"').format(dir_) if dir_ != direction(around) else Markup("")
        # mj-text writes the issue's alignment inline; a block of the other direction starts
        # on its own side.
        align = f"text-align: {'right' if dir_ == 'rtl' else 'left'}; " if dir_attr else ""
        return Markup(' lang="{}"{} style="{}font-family: {}"').format(
            language, dir_attr, align, fonts_for(language)
        )

    def attr(self, item: object, around: str | None = None) -> Markup:
        """`` lang="zh" style="font-family: …"`` for a paragraph in another language than
        ``around`` (its article's language, else the issue's); ``dir`` too when it changes."""
        language = language_of(item)
        around = around or self.issue_language
        if not language or language == around:
            return Markup("")
        return self._marks(language, around)

    def of_text(self, language: str | None) -> Markup:
        """The marks for text in ``language`` that is not a model item (the footer's about)."""
        if not language or language == self.issue_language:
            return Markup("")
        return self._marks(language, self.issue_language)

    def open(self, language: str | None) -> Markup:
        """A ``<div>`` carrying the language of a whole article or event, or nothing."""
        if not language or language == self.issue_language:
            return Markup("")
        return Markup("<div{}>").format(self._marks(language, self.issue_language))

    def close(self, language: str | None) -> Markup:
        if not language or language == self.issue_language:
            return Markup("")
        return Markup("</div>")
