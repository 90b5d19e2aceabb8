"""Which languages exist: one gettext catalog each, in the package or in the theme folder.

A language is available when a PO catalog for it exists, at
``<folder>/locales/<tag>/LC_MESSAGES/newsletter.po`` in the organisation's
theme folder (``organisation.templates_dir``) or in the package, the theme
first, the same search path as the templates. Adding or correcting a
language is dropping one file; nothing in the code lists languages.

Tags are BCP 47 (``fr``, ``fr-CH``, ``zh-Hans``, ``pt-BR``), compared
case-insensitively and matched with fallback: ``fr-CH`` finds ``fr`` by
dropping subtags, and the ISA's ``zh`` (in issues, configs and the database
since the first release) is an alias of ``zh-Hans``. Issues and the profile
need a catalog of their own tag (the chrome must be in the language the
editor wrote); subscribers and lists may name a regional variant that falls
back to a catalog, with a warning, since their tag only chooses a catalog.

Invariant: one theme folder per process (the CLI and the web server each
load one ``newsletter.toml``); :func:`use_theme_dir` is called by the
settings loader and the caches are keyed by that folder.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

from newsletter.errors import BadInput

DOMAIN = "newsletter"
# Tags with a meaning older than the catalogs: the ISA wrote Simplified Chinese as ``zh``;
# browsers send zh-CN/zh-TW/zh-HK; CLDR's ``en`` is American, the shipped English British.
ALIASES = {
    "zh": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
}
_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
HOW_TO_ADD = (
    "add a catalog at locales/{tag}/LC_MESSAGES/newsletter.po in the templates folder "
    "(see docs/languages.md)"
)

_theme_dir: Path | None = None


def use_theme_dir(folder: Path | None) -> None:
    """Look for catalogs in ``folder/locales`` before the package's (the settings loader calls
    this once per process)."""
    global _theme_dir
    _theme_dir = folder


def theme_dir() -> Path | None:
    """The folder :func:`use_theme_dir` named, for a child process to name it too."""
    return _theme_dir


def package_dir() -> Path:
    return Path(str(resources.files("newsletter").joinpath("locales")))


def search_path() -> list[Path]:
    """The folders holding ``<tag>/LC_MESSAGES/newsletter.po``, the organisation's first."""
    theme = [_theme_dir / "locales"] if _theme_dir is not None else []
    return [*theme, package_dir()]


def available() -> dict[str, Path]:
    """``{tag: catalog path}`` of every language with a catalog; the theme's win."""
    return _available(tuple(search_path()))


@cache
def _available(folders: tuple[Path, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in reversed(folders):
        if not folder.is_dir():
            continue
        for po in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            tag = po.parent.parent.name
            if _TAG.fullmatch(tag):
                found[tag] = po
    return dict(sorted(found.items()))


@cache
def _by_lower(folders: tuple[Path, ...]) -> dict[str, str]:
    return {t.lower(): t for t in _available(folders)}


def _exact(tag: str) -> str | None:
    """The catalog tag spelled ``tag`` up to case, or its alias's; no fallback."""
    by_lower = _by_lower(tuple(search_path()))
    lower = tag.lower()
    if lower in by_lower:
        return by_lower[lower]
    alias = ALIASES.get(lower)
    return by_lower.get(alias.lower()) if alias else None


def resolve(tag: str | None) -> str | None:
    """The catalog for ``tag`` with fallback: ``fr-CH`` → ``fr``, ``zh`` → ``zh-Hans``."""
    if not tag or not _TAG.fullmatch(tag):
        return None
    parts = tag.split("-")
    while parts:
        found = _exact("-".join(parts))
        if found:
            return found
        parts.pop()
    return None


def is_available(tag: str | None) -> bool:
    """Whether ``tag`` has a catalog of its own (or is an alias of one, as ``zh``)."""
    return bool(tag) and _TAG.fullmatch(tag or "") is not None and _exact(tag or "") is not None


def unknown_message(tag: str) -> str:
    """The one line that refuses a tag without catalog and says how to add one."""
    return (
        f"unknown language {tag!r}: no translation catalog for it; "
        + HOW_TO_ADD.format(tag=tag)
        + f"; available: {', '.join(available())}"
    )


def require(tag: str) -> str:
    """``tag`` if it has a catalog (an issue's or the profile's language), else BadInput."""
    if not is_available(tag):
        raise BadInput(unknown_message(tag))
    return tag


def accept_with_fallback(tag: str) -> tuple[str, str | None]:
    """A subscriber's or list's tag: ``(tag, warning)``; refused when nothing falls back.

    ``fr-CH`` is kept as written (it says what the person reads) and served
    from ``fr`` with a warning; a tag with no catalog on its path is refused.
    """
    if is_available(tag):
        return tag, None
    found = resolve(tag)
    if found is None:
        raise BadInput(unknown_message(tag))
    return tag, f"language {tag!r} has no catalog of its own; served in {found!r}"


def negotiate(header: str | None, allowed: list[str] | None = None) -> str | None:
    """The best catalog for an ``Accept-Language`` header, by q-values, with fallback.

    ``allowed`` narrows the choice (a list's languages); each preferred tag
    is tried with :func:`resolve`, so a ``fr-CH`` browser gets ``fr``.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if q > 0:
            ranked.append((-q, i, tag.strip()))
    pool = None if allowed is None else {resolve(a): a for a in allowed if resolve(a)}
    for _, _, tag in sorted(ranked):
        found = resolve(tag)
        if found is None:
            continue
        if pool is None:
            return found
        if found in pool:
            return pool[found]
    return None


def cldr_name(tag: str) -> str:
    """The Babel locale name for CLDR data: ``zh-Hant`` → ``zh_Hant``, ``en`` → ``en_GB``.

    Plain ``en`` is British in the shipped catalog (day before month, as the
    ISA always printed it); an organisation wanting American dates writes ``en-US``.
    """
    from babel import Locale, UnknownLocaleError

    if tag.lower() == "en":
        return "en_GB"
    parts = tag.split("-")
    while parts:
        try:
            return str(Locale.parse("_".join(parts)))
        except (ValueError, UnknownLocaleError):
            parts.pop()
    return "en_GB"


@cache
def direction(tag: str | None) -> str:
    """``rtl`` for Arabic, Hebrew, Persian …, from CLDR; ``ltr`` otherwise."""
    if not tag:
        return "ltr"
    from babel import Locale

    return "rtl" if Locale.parse(cldr_name(tag)).character_order == "right-to-left" else "ltr"


@cache
def script(tag: str | None) -> str:
    """The ISO 15924 script ``tag`` is written in (``Latn``, ``Hans``, ``Jpan``, ``Arab`` …)."""
    if not tag:
        return "Latn"
    from babel import Locale

    loc = Locale.parse(cldr_name(tag))
    if loc.language == "ja":
        return "Jpan"
    if loc.language == "ko":
        return "Kore"
    return loc.script or _LIKELY_SCRIPT.get(loc.language, "Latn")


# Scripts of the languages Babel parses without one (its likely-subtags data is
# not exposed); anything not here and not named by its tag is written in Latin.
_LIKELY_SCRIPT = {
    "zh": "Hans", "ar": "Arab", "fa": "Arab", "ur": "Arab", "he": "Hebr", "yi": "Hebr",
    "ru": "Cyrl", "uk": "Cyrl", "bg": "Cyrl", "sr": "Cyrl", "mk": "Cyrl", "be": "Cyrl",
    "kk": "Cyrl", "el": "Grek", "hi": "Deva", "mr": "Deva", "ne": "Deva", "th": "Thai",
    "hy": "Armn", "ka": "Geor", "bn": "Beng", "ta": "Taml",
}  # fmt: skip


def is_cjk(tag: str | None) -> bool:
    """Written without spaces between words: wrapped per character, set in a CJK font."""
    return script(tag) in ("Hans", "Hant", "Jpan", "Kore")


# Fonts go by script: a stack naming CJK families before sans-serif set German text in a
# Chinese font wherever the Latin families before them were missing (issue 18). Latin,
# Cyrillic and Greek get LATIN_FONTS; each CJK language its own (the same code points
# have different glyphs in Simplified and Traditional Chinese, Japanese and Korean), with
# the Latin families after them for Latin words inside; Arabic its own.
LATIN_FONTS = "-apple-system, 'Segoe UI', Helvetica, Arial, 'Noto Sans', 'DejaVu Sans', sans-serif"
_LATIN_TAIL = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
FONTS_BY_SCRIPT = {
    "Hans": "'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', 'Noto Sans CJK SC', "
    "'Noto Sans SC', 'Source Han Sans SC', " + _LATIN_TAIL,
    "Hant": "'PingFang TC', 'Microsoft JhengHei', 'Noto Sans CJK TC', 'Noto Sans TC', "
    "'Source Han Sans TC', " + _LATIN_TAIL,
    "Jpan": "'Hiragino Sans', 'Hiragino Kaku Gothic ProN', 'Yu Gothic', Meiryo, "
    "'Noto Sans CJK JP', 'Noto Sans JP', 'Source Han Sans JP', " + _LATIN_TAIL,
    "Kore": "'Apple SD Gothic Neo', 'Malgun Gothic', 'Noto Sans CJK KR', 'Noto Sans KR', "
    "'Source Han Sans KR', " + _LATIN_TAIL,
    "Arab": "'Geeza Pro', 'Segoe UI', Tahoma, 'Noto Sans Arabic', 'Noto Naskh Arabic', "
    "'DejaVu Sans', Arial, sans-serif",
}


def font_stack(tag: str | None) -> str:
    """The CSS font stack for text in ``tag``: its script's, else the Latin one."""
    return FONTS_BY_SCRIPT.get(script(tag), LATIN_FONTS)


def font_rules() -> str:
    """CSS giving each script's languages their stack through ``:lang()``, for a stylesheet
    shared by pages in every language (``:lang(zh)`` also matches ``zh-Hant``, so the
    Traditional rule comes after it)."""
    selectors = {
        "Hans": ":lang(zh)",
        "Hant": ":lang(zh-Hant), :lang(zh-TW), :lang(zh-HK)",
        "Jpan": ":lang(ja)",
        "Kore": ":lang(ko)",
        "Arab": ":lang(ar), :lang(fa), :lang(ur)",
    }
    return "\n".join(
        f"{sel} {{ font-family: {FONTS_BY_SCRIPT[s]}; }}" for s, sel in selectors.items()
    )
