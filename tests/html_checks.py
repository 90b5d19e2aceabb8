"""The HTML checks every page we publish passes: a mail's HTML part and the archive's pages.

One function for both, so the web version of an issue cannot be held to less
than the mail it was made from (``test_render.py``, ``test_web_archive.py``).
"""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser

from newsletter import languages

# What a template or MJML left behind when it was not filled in.
LEFTOVERS = ("{{", "{%", "<mj-", "None</")
# A per-recipient placeholder (%%UNSUBSCRIBE_URL%%): rendered mails still carry
# them, the sender fills them in; a page anyone can read must have none.
PLACEHOLDER = "%%"


# What visible text never holds unless markup was escaped once too often
# (``&lt;/head&gt;`` shows as "</head>", ``&amp;#39;`` as "&#39;").
MARKUP_IN_TEXT = re.compile(r"</?[a-zA-Z!]|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_INVISIBLE = {"style", "script", "title", "template"}


class Tags(HTMLParser):
    """Tags, attributes and visible text of a page (``text``: every text node, ``visible``:
    those a reader sees, outside ``<style>``, ``<script>`` and ``<title>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.visible: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in _INVISIBLE:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE and tag in self._open:
            del self._open[self._open.index(tag) :]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if not self._open:
            self.visible.append(data)


def markup_in_text(html: str) -> list[str]:
    """Visible text that looks like markup: a tag or an entity shown to the reader."""
    return [t.strip()[:80] for t in parse(html).visible if MARKUP_IN_TEXT.search(t)]


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


def html_problems(html: str, language: str, *, final: bool = True) -> list[str]:
    """What is wrong with a page we send or publish; an empty list when nothing is.

    ``final=False`` for a rendered mail before the sender fills in its placeholders.
    """
    markers = LEFTOVERS + ((PLACEHOLDER,) if final else ())
    problems = [f"template leftover {m!r}" for m in markers if m in html]
    problems += [f"visible text looks like markup: {t!r}" for t in markup_in_text(html)]
    tags = parse(html)
    root = [a for t, a in tags.tags if t == "html"]
    if not root or root[0].get("lang") != language:
        problems.append(f"<html lang> is not {language!r}")
    direction = languages.direction(language)
    if not root or root[0].get("dir") != direction:
        problems.append(f"<html dir> is not {direction!r}")
    if any(t == "script" for t, _ in tags.tags):
        problems.append("a <script>")
    problems += [f"<img> without alt: {a.get('src')}" for t, a in tags.tags
                 if t == "img" and not a.get("alt")]  # fmt: skip
    levels = [int(t[1]) for t, _ in tags.tags if re.fullmatch(r"h[1-6]", t)]
    if not levels or levels[0] != 1:
        problems.append(f"headings do not start at <h1>: {levels[:3]}")
    problems += [f"heading skips from h{a} to h{b}" for a, b in itertools.pairwise(levels)
                 if b - a > 1]  # fmt: skip
    return problems
