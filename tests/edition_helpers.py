"""Helpers for the edition tests: a copy of July 2021 in both languages, and reading ``lang``."""

from __future__ import annotations

import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ISSUES = ROOT / "issues"
ISA_CONFIG = ROOT / "newsletter.toml"
VOID = {"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "source", "wbr"}


def july_editions(folder: Path) -> tuple[Path, Path]:
    """Copy ``2021-07.yaml`` and ``2021-07.zh.yaml`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    de = folder / "2021-07.yaml"
    zh = folder / "2021-07.zh.yaml"
    shutil.copy(ISSUES / de.name, de)
    shutil.copy(ISSUES / zh.name, zh)
    return de, zh


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact piece of a file (fails loudly when the piece is not there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


class _Lang(HTMLParser):
    """Each piece of visible text with the ``lang`` of its nearest element that has one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, str | None]] = []
        self.texts: list[tuple[str, str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        a = dict(attrs)
        self.stack.append((tag, a.get("lang"), a.get("style")))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not data.strip() or any(t in ("style", "title", "head") for t, _, _ in self.stack):
            return
        lang = next((lang for _, lang, _ in reversed(self.stack) if lang), None)
        font = next((s for _, _, s in reversed(self.stack) if s and "font-family" in s), None)
        self.texts.append((" ".join(data.split()), lang, font))


def languages_of(html: str) -> list[tuple[str, str | None, str | None]]:
    """``[(text, lang, nearest style with a font-family), …]`` for the visible text."""
    p = _Lang()
    p.feed(html)
    return p.texts


def lang_of(html: str, fragment: str) -> str | None:
    """The ``lang`` that applies to the text containing ``fragment``."""
    found = [lang for text, lang, _ in languages_of(html) if fragment in text]
    assert found, f"{fragment!r} is not in the visible text"
    return found[0]


def font_of(html: str, fragment: str) -> str:
    found = [font for text, _, font in languages_of(html) if fragment in text]
    assert found and found[0], f"no font-family around {fragment!r}"
    return found[0]


def send_bilingual_issue(web: Any) -> None:
    """The ISA's July issue sent (to the outbox) to a German and a Chinese reader of ``web``."""
    import sqlalchemy as sa

    from newsletter.campaigns import sender
    from newsletter.config import load_settings
    from newsletter.subscribers.tables import Subscriber
    from newsletter.transports import open_transport
    from newsletter.workbench.publish import create_campaign_from_file

    web.settings = replace(web.settings, organisation=load_settings(ISA_CONFIG).organisation)
    addrs = web.add(2)
    with web.db.session() as s:
        s.execute(sa.update(Subscriber).where(Subscriber.email == addrs[1]).values(language="zh"))
        c, _ = create_campaign_from_file(s, ISSUES / "2021-07.yaml", "news", web.settings)
        cid = c.id
    sender.run_campaign(web.db, web.settings, cid, open_transport(web.settings))
