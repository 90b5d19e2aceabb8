"""HTML part: Jinja2 → MJML → mjml-python → premailer.

The Jinja2 environment is built once per theme and reused for every issue in
the process, because template compilation dominates a cold render.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

import cssutils
import mjml
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
)
from markupsafe import Markup
from premailer import Premailer

from newsletter.errors import BadInput, OperationFailed
from newsletter.render.inline import to_html

# cssutils reports every vendor property (mso-*, -webkit-*) as an error on
# stderr; those are intended, so silence it once for the process.
cssutils.log.setLevel(logging.CRITICAL)

FONTS = (
    "-apple-system, 'Segoe UI', Helvetica, Arial, 'PingFang SC', 'Hiragino Sans GB', "
    "'Microsoft YaHei', 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif"
)


def default_theme_dir() -> Path:
    return Path(str(resources.files("newsletter").joinpath("theme", "default")))


class Theme:
    """A template search path: the organisation's folder first, then the default theme.

    Like mkdocs' ``custom_dir``: a file of the same name replaces the default
    one, and ``default/<name>`` still reaches the original for extending it.
    """

    def __init__(self, custom_dir: Path | None = None) -> None:
        default = FileSystemLoader(str(default_theme_dir()))
        loaders: list[Any] = []
        if custom_dir is not None:
            if not custom_dir.is_dir():
                raise BadInput(f"templates folder not found: {custom_dir}")
            loaders.append(FileSystemLoader(str(custom_dir)))
        loaders += [default, PrefixLoader({"default": default})]
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.filters["md"] = lambda s: Markup(to_html(s))

    def render_mjml(self, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template("issue.mjml.j2").render(context)
        except TemplateSyntaxError as exc:
            raise BadInput(
                f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}"
            ) from exc
        except TemplateNotFound as exc:
            raise BadInput(f"template not found: {exc.name}") from exc


_GAP = re.compile(r">[ \t]+<")


def mjml_to_html(source: str) -> str:
    # mjml-python rejects spaces between a closing </mj-style> and the next tag;
    # a newline is the same whitespace to HTML and parses fine.
    try:
        return mjml.mjml2html(_GAP.sub(">\n<", source))
    except Exception as exc:  # mjml-python raises plain exceptions from Rust
        raise OperationFailed(f"MJML could not be compiled: {exc}") from exc


def inline_css(html: str) -> str:
    """Inline the theme's CSS; keep ``@media`` rules and Outlook conditional comments."""
    return Premailer(
        html,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        disable_validation=True,
        disable_leftover_css=False,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        cssutils_logging_level=logging.CRITICAL,
        exclude_pseudoclasses=True,
    ).transform(pretty_print=False)
