"""HTML part: Jinja2 → MJML → mjml-python → css-inline.

The Jinja2 environment is built once per theme and reused for every issue in
the process, because template compilation dominates a cold render.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import css_inline
import mjml
from jinja2 import (
    BytecodeCache,
    FileSystemBytecodeCache,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
)
from markupsafe import Markup

from newsletter import languages
from newsletter.errors import BadInput, OperationFailed
from newsletter.render.inline import linkify, to_html
from newsletter.themes import theme_environment

# Latin, Cyrillic and Greek; newsletter.languages has the other scripts' stacks.
FONTS = languages.LATIN_FONTS


class _TemplateCache(FileSystemBytecodeCache):
    """Compiled templates kept between processes: compiling the theme is most of a cold render.

    Jinja2 keys each entry by template path and checks the source's checksum,
    so an edited template is recompiled. A cache that cannot be written costs
    speed, never a render.
    """

    def dump_bytecode(self, bucket: Any) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> BytecodeCache | None:
    try:
        return _TemplateCache()  # a 0700 folder of this user's in the temp dir
    except (OSError, RuntimeError):  # RuntimeError: that folder is not safely ours
        return None


class Theme:
    """A template search path: the organisation's folder first, then the default theme.

    Like mkdocs' ``custom_dir``: a file of the same name replaces the default
    one, and ``default/<name>`` still reaches the original for extending it.
    """

    def __init__(self, custom_dir: Path | None = None) -> None:
        self.env = theme_environment(custom_dir, _template_cache())
        self.env.filters["md"] = lambda s: Markup(to_html(s))
        self.env.filters["linkify"] = lambda s: Markup(linkify(s))

    def render_mjml(self, context: dict[str, Any], name: str = "issue.mjml.j2") -> str:
        """The MJML source of template ``name`` (an issue's, or a subscription mail's)."""
        return self.template(name).render(context)

    def template(self, name: str) -> Template:
        """Template ``name`` compiled; a syntax error names its file and line."""
        try:
            return self.env.get_template(name)
        except TemplateSyntaxError as exc:
            raise BadInput(
                f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}"
            ) from exc
        except TemplateNotFound as exc:
            raise BadInput(f"template not found: {exc.name}") from exc


_GAP = re.compile(r">[ \t]+<")
# mjml writes font-size:0px on layout cells, also inside Outlook's conditional
# comments, to remove the gaps between inline blocks. SpamAssassin reads any
# "font-size:0px;" … "4px;" in the raw HTML as tiny hidden text and, through a
# relay without reverse DNS, scores it (HTML_FONT_TINY_NORDNS). 0pt is the same
# size to browsers and to Outlook's Word engine, and matches no such rule.
_ZERO_FONT = re.compile(r"font-size:(\s*)0px", re.IGNORECASE)


def mjml_to_html(source: str) -> str:
    # mjml-python rejects spaces between a closing </mj-style> and the next tag;
    # a newline is the same whitespace to HTML and parses fine.
    try:
        html = mjml.mjml2html(_GAP.sub(">\n<", source))
    except Exception as exc:  # mjml-python raises plain exceptions from Rust
        raise OperationFailed(f"MJML could not be compiled: {exc}") from exc
    return _ZERO_FONT.sub(r"font-size:\g<1>0pt", html)


# keep_at_rules: @media rules cannot be inlined, so they stay in one <style>
# in <head>. The attribute rewriting (apply_width_attributes) stays off: mjml
# writes pixel widths on images for Outlook desktop, which ignores CSS widths.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
# A <style media="…"> applies only where its query matches (mjml's
# Thunderbird fix is one); inlining it would apply it everywhere.
_MEDIA_STYLE = re.compile(r"<style\b[^>]*\smedia=[^>]*>.*?</style>", re.S | re.I)
_HELD = "<!--newsletter:held-style:{}-->"


def inline_css(html: str) -> str:
    """Inline the theme's CSS; keep ``@media`` rules and Outlook conditional comments.

    css-inline (Rust, html5ever) leaves comments, and with them Outlook's
    ``<!--[if mso]>`` blocks, as they are. Styles with a ``media`` attribute
    are held out of the inliner and put back where they were.
    """
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(0))
        return _HELD.format(len(held) - 1)

    try:
        out = _INLINER.inline(_MEDIA_STYLE.sub(hold, html))
    except css_inline.InlineError as exc:
        raise OperationFailed(f"CSS could not be inlined: {exc}") from exc
    for i, style in enumerate(held):
        out = out.replace(_HELD.format(i), style, 1)
    return out
