"""The theme's template search path, shared by the renderer and the web pages.

It lives on the bottom floor so that the web process can render its pages
from the same folders as the newsletter without importing the MJML and CSS
inlining chain (``newsletter.render``) it never uses.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import (
    BytecodeCache,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
)

from newsletter.errors import BadInput


def default_theme_dir() -> Path:
    return Path(str(resources.files("newsletter").joinpath("theme", "default")))


def theme_environment(
    custom_dir: Path | None, bytecode_cache: BytecodeCache | None = None
) -> Environment:
    """An autoescaping environment that finds the organisation's templates before the default's.

    Like mkdocs' ``custom_dir``: a file of the same name replaces the default
    one, and ``default/<name>`` still reaches the original for extending it.
    """
    default = FileSystemLoader(str(default_theme_dir()))
    loaders: list[Any] = []
    if custom_dir is not None:
        if not custom_dir.is_dir():
            raise BadInput(f"templates folder not found: {custom_dir}")
        loaders.append(FileSystemLoader(str(custom_dir)))
    loaders += [default, PrefixLoader({"default": default})]
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        bytecode_cache=bytecode_cache,
    )
