"""Inline Markdown for paragraphs: bold, italic, links — and nothing else.

markdown-it-py parses with raw HTML disabled, so ``<script>`` in an issue is
shown as text, never executed. The same token stream feeds both outputs: HTML
for the email body, and plain text where links become numbered references.
"""

from __future__ import annotations

import re
from functools import cache
from html import escape as html_escape

from markdown_it import MarkdownIt
from markdown_it.token import Token


@cache
def _md() -> MarkdownIt:
    # "zero" enables nothing; we switch on exactly the inline rules editors use.
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False})
    md.enable(["emphasis", "link", "backticks", "escape", "entity", "newline"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    return md


def _safe_link(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("https://", "http://", "mailto:"))


def to_html(source: str) -> str:
    """Render one paragraph's inline Markdown as escaped HTML."""
    return _md().renderInline(source)


class References:
    """Numbered link references for the plain-text part, shared across one issue."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def number(self, url: str) -> int:
        if url in self.urls:
            return self.urls.index(url) + 1
        self.urls.append(url)
        return len(self.urls)


def to_text(source: str, refs: References) -> str:
    """Render one paragraph as plain text; links become ``label [n]``."""
    tokens = _md().parseInline(source)
    out: list[str] = []
    for tok in tokens:
        _walk(tok.children or [], out, refs)
    return "".join(out)


def _walk(children: list[Token], out: list[str], refs: References) -> None:
    href: str | None = None
    for child in children:
        if child.type == "text" or child.type == "code_inline":
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" " if child.type == "softbreak" else "\n")
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
        elif child.type == "link_close" and href:
            label_is_url = out and out[-1].strip() == href
            if not label_is_url:
                out.append(f" [{refs.number(href)}]")
            href = None
        elif child.type in ("em_open", "em_close"):
            out.append("_")
        elif child.type in ("strong_open", "strong_close"):
            out.append("*")


# Web and mail addresses in the organisation's own footer text (about, contact).
# Written by the organisation, not by readers, so turning them into links is safe;
# issue paragraphs use explicit Markdown links instead.
_ADDRESS = re.compile(
    r"(?P<mail>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<web>(?:https?://|www\.)[^\s<>\"']+)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]»“”\"'"


def linkify(text: str) -> str:
    """``text`` as escaped HTML with its web and mail addresses as links."""
    out: list[str] = []
    pos = 0
    for m in _ADDRESS.finditer(text):
        shown = m.group(0).rstrip(_TRAILING)
        end = m.start() + len(shown)
        if m.group("mail"):
            href = f"mailto:{shown}"
        else:
            href = shown if "://" in shown else f"https://{shown}"
        out.append(html_escape(text[pos : m.start()]))
        out.append(f'<a class="nl-link" href="{html_escape(href)}">{html_escape(shown)}</a>')
        pos = end
    out.append(html_escape(text[pos:]))
    return "".join(out)
