"""What a person sees on a page, checked in headless Chromium: reusable for pages and mails.

:func:`look` loads one page state (already open in a Playwright ``page``) in
one colour scheme and width and returns the problems a reader would meet:

* visible text that looks like markup (``</``, ``&lt;``, ``&#``): escaped once
  too often;
* a Content-Security-Policy violation in the console (a stylesheet or an
  image the page's own policy blocks);
* text below 14 px outside the legal footer (``legal`` selector);
* text below WCAG AA contrast (4.5:1, 3:1 for large text) against the
  background it sits on, computed by the browser (the page's stylesheet,
  its dark mode, the form controls' own colours) and composited onto
  Chromium's canvas (``newsletter.workbench.contrast.CANVAS``).

A screenshot of every state is written to ``shots`` for a person to look at.
The mail helper reuses this for the subscription mails: open the mail's HTML
in a page (``page.set_content``) and call :func:`look` the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.render.colour import AA_LARGE, AA_NORMAL, RGBA, contrast, parse_colour
from newsletter.workbench.contrast import CANVAS

MIN_PX = 14.0
MARKUP = re.compile(r"</|&lt;|&gt;|&amp;|&#|&quot;")
SCHEMES = ("light", "dark")
WIDTHS = (600, 375)

# Every visible text node and form control with the colours the browser computed.
_COLLECT = """
(legal) => {
  const out = [];
  const visible = (el, rects) => {
    if (!rects.length) return false;
    const cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || parseFloat(cs.opacity) === 0) return false;
    if (el.closest('[aria-hidden="true"]')) return false;
    const r = rects[0];
    return r.right > 0 && r.bottom > 0;  // not moved off-screen (the honeypot)
  };
  const backgrounds = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const b = getComputedStyle(e).backgroundColor;
      layers.push(b);
      if (/^rgb\\(/.test(b)) break;
    }
    return layers;
  };
  const sample = (el, text) => {
    const cs = getComputedStyle(el);
    return {text: text.slice(0, 80), color: cs.color, backgrounds: backgrounds(el),
            size: parseFloat(cs.fontSize), weight: parseInt(cs.fontWeight, 10) || 400,
            legal: legal ? !!el.closest(legal) : false,
            where: el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')};
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.nodeValue.replace(/\\s+/g, ' ').trim();
    const el = node.parentElement;
    if (!text || !el || el.closest('style, script, noscript, template, select')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (visible(el, rects)) out.push(sample(el, text));
  }
  const controls = 'input:not([type=hidden]):not([type=checkbox]):not([type=radio]), '
    + 'select, textarea';
  for (const el of document.querySelectorAll(controls)) {
    const rects = [...el.getClientRects()];
    const text = el.tagName === 'SELECT' ? (el.selectedOptions[0] || {}).text || '' : el.value;
    if (visible(el, rects)) out.push(sample(el, '[' + el.tagName.toLowerCase() + '] ' + text));
  }
  const scheme = getComputedStyle(document.documentElement).colorScheme || 'normal';
  return {texts: out, dark: matchMedia('(prefers-color-scheme: dark)').matches,
          darkCanvas: scheme.includes('dark')};
}
"""


@dataclass
class Console:
    """The console messages of a page, collected from before its first load."""

    messages: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Console:
        page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        return self

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "Refused to" in m]


def _colour(value: str) -> RGBA | None:
    return parse_colour(value)


def _behind(layers: list[str], dark_canvas: bool) -> RGBA | None:
    colours = [_colour(v) for v in layers]
    if any(c is None for c in colours):
        return None
    result = CANVAS[dark_canvas]
    for layer in reversed(colours):
        assert layer is not None
        result = layer.over(result)
    return result


def problems_of(collected: dict[str, Any], *, min_px: float = MIN_PX) -> list[str]:
    """The problems in what :data:`_COLLECT` returned (separate so it can be tested alone)."""
    found: list[str] = []
    dark_canvas = bool(collected["dark"] and collected["darkCanvas"])
    for t in collected["texts"]:
        if MARKUP.search(t["text"]):
            found.append(f"text looks like markup: {t['text']!r} ({t['where']})")
        if t["size"] < min_px - 0.01 and not t["legal"]:
            found.append(f"text of {t['size']:g} px: {t['text']!r} ({t['where']})")
        behind = _behind(t["backgrounds"], dark_canvas)
        fg = _colour(t["color"])
        if behind is None or fg is None:
            found.append(f"colour not understood: {t['color']} on {t['backgrounds']}")
            continue
        fg = fg.over(behind)
        large = t["size"] >= 24 or (t["size"] >= 18.66 and t["weight"] >= 700)
        required = AA_LARGE if large else AA_NORMAL
        ratio = contrast(fg, behind)
        if ratio < required:
            found.append(
                f"contrast {ratio:.2f}:1 < {required}:1: {fg.hex} on {behind.hex}, "
                f"{t['text']!r} ({t['where']})"
            )
    return found


def look(
    page: Any,
    console: Console,
    shots: Path,
    name: str,
    *,
    legal: str = ".legal",
    min_px: float = MIN_PX,
) -> list[str]:
    """The problems of the page as it is shown now, and its screenshot as ``shots/name.png``.

    The caller has set the colour scheme (``page.emulate_media``) and the width
    (``page.set_viewport_size``) and loaded the page with ``console`` attached.
    """
    page.wait_for_load_state("load")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    collected = page.evaluate(_COLLECT, legal)
    found = problems_of(collected, min_px=min_px)
    if not collected["texts"]:
        found.append("no visible text at all")
    found += [f"console: {m}" for m in console.csp_violations()]
    return [f"{name}: {p}" for p in found]


def look_everywhere(
    browser: Any,
    url: str,
    shots: Path,
    name: str,
    *,
    prepare: Any = None,
    legal: str = ".legal",
    locale: str = "en-GB",
) -> list[str]:
    """:func:`look` at ``url`` in light and dark, 600 and 375 px wide.

    ``prepare(page)`` brings the page into its state after ``goto`` (fills and
    submits a form, say). The page is loaded and prepared once; the colour scheme and the
    width then change under it, as when a reader turns the phone or the system goes dark:
    the browser applies the media queries again, and :func:`look` reads what it computed.
    (A new context per combination cost three more loads and form posts per state, half
    the time of tests/test_web_pages_look.py, for the same four looks.)
    """
    found: list[str] = []
    context = browser.new_context(
        locale=locale, color_scheme=SCHEMES[0], viewport={"width": WIDTHS[0], "height": 800}
    )
    try:
        page = context.new_page()
        console = Console().attach(page)
        page.goto(url)
        if prepare is not None:
            prepare(page)
        for scheme in SCHEMES:
            for width in WIDTHS:
                page.emulate_media(color_scheme=scheme)
                page.set_viewport_size({"width": width, "height": 800})
                found += look(page, console, shots, f"{name}-{scheme}-{width}", legal=legal)
    finally:
        context.close()
    return found
