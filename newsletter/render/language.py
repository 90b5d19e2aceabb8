"""Text in another language than the issue's: ``lang`` attributes and a font stack per language.

A Chinese article in a German issue is marked ``lang="zh"`` so screen readers
switch voice and browsers pick Simplified Chinese glyphs and line breaking,
and it is set in a CJK-first font stack: with the Latin-first default, the
quotes and dashes inside Chinese text would come from a Latin font, half
width, where a Chinese reader expects full-width marks.
"""

from __future__ import annotations

from markupsafe import Markup

from newsletter.issue.model import CJK_LANGUAGES
from newsletter.render.html import FONTS

FONTS_CJK = (
    "'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Noto Sans SC', "
    "'Source Han Sans SC', -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
)


def fonts_for(language: str | None) -> str:
    return FONTS_CJK if language in CJK_LANGUAGES else FONTS


def is_cjk(language: str | None) -> bool:
    return language in CJK_LANGUAGES


def language_of(item: object) -> str | None:
    """The ``language`` an article, event or paragraph declares, if any (plain text has none)."""
    return getattr(item, "language", None)


class LanguageMarks:
    """The template helpers for one issue; a mark is written only where the language changes."""

    def __init__(self, issue_language: str) -> None:
        self.issue_language = issue_language

    def attr(self, item: object, around: str | None = None) -> Markup:
        """`` lang="zh" style="font-family: …"`` for a paragraph in another language than
        ``around`` (its article's language, else the issue's)."""
        language = language_of(item)
        if not language or language == (around or self.issue_language):
            return Markup("")
        return Markup(' lang="{}" style="font-family: {}"').format(language, fonts_for(language))

    def open(self, language: str | None) -> Markup:
        """A ``<div>`` carrying the language of a whole article or event, or nothing."""
        if not language or language == self.issue_language:
            return Markup("")
        return Markup('<div lang="{}" style="font-family: {}">').format(
            language, fonts_for(language)
        )

    def close(self, language: str | None) -> Markup:
        if not language or language == self.issue_language:
            return Markup("")
        return Markup("</div>")
