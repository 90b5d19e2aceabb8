"""Every subscription mail in headless Chromium, as a reader sees it: light and dark, 600 and
375 px wide.

For each visible text the page reports its computed size, colour and the
colour of the nearest painted background (the canvas where nothing is
painted). A text that looks like markup (``</``, ``&lt;``, ``&#``) is an
escaping bug; text below 14 px is only allowed in the legal footer; every
text needs WCAG AA contrast. The screenshots stay in the test's tmp folder
(``<kind>-<scheme>-<width>.png``) for a person to look at.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from subscription_mail_helpers import html_of, sign_up_and_confirm

from newsletter.config import load_settings
from newsletter.render.colour import AA_LARGE, AA_NORMAL, RGBA, contrast, parse_colour
from newsletter.render.html import Theme
from newsletter.render.mails import InvitationMail, ReminderMail
from newsletter.web.mails import Outgoing, compose

ROOT = Path(__file__).resolve().parents[1]
MARKUP = re.compile(r"</|&lt;|&gt;|&amp;|&#|&[a-z]+;")
# What Chromium paints where no element paints a background: dark only in dark mode and
# for a page that declares it supports it (<meta name="color-scheme" content="light dark">).
CANVAS = {"light": RGBA(255, 255, 255), "dark": RGBA(18, 18, 18)}

PROBE = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const painted = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      layers.push(bg);
      if (!/rgba\\(.*, 0\\)$/.test(bg) && bg !== 'transparent' && !/rgba/.test(bg)) break;
    }
    return layers;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/[\\s\\u200c\\u00a0]+/g, ' ').trim();
    if (!text) continue;
    const el = node.parentElement;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.display === 'none' || style.visibility === 'hidden' || box.width === 0 ||
        box.height === 0 || el.closest('[style*="display:none"]')) continue;
    out.push({text, size: parseFloat(style.fontSize), weight: parseInt(style.fontWeight),
              colour: style.color, layers: painted(el), legal: !!el.closest('.nl-legal')});
  }
  const meta = document.querySelector('meta[name="color-scheme"]');
  return {texts: out, seen: document.body.innerText, dark: !!meta && /dark/.test(meta.content),
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
}"""


def _background(layers: list[str], scheme: str) -> RGBA:
    """The colour behind a text: its ancestors' backgrounds composited over the canvas."""
    colour = CANVAS[scheme]
    for layer in reversed(layers):
        parsed = parse_colour(layer)
        if parsed is not None and parsed.a > 0:
            colour = parsed.over(colour)
    return colour


@pytest.mark.timeout(300)
def test_a_reader_sees_no_markup_small_or_faint_text(web, browser, tmp_path: Path) -> None:
    """The confirmation and welcome mail, German, in the ISA organisation's colours; the old
    hand-written mails fail (13 px footer and link, HTML-escaped names shown as ``&amp;``)."""
    isa = load_settings(ROOT / "newsletter.toml").organisation
    web.settings = replace(web.settings, organisation=replace(isa, templates_dir=None))
    confirmation, welcome = sign_up_and_confirm(web, language="de", name="O'Brien & Söhne")
    problems: list[str] = []
    for kind, data in (("confirmation", confirmation), ("welcome", welcome)):
        for scheme in ("light", "dark"):
            for width in (600, 375):
                where = f"{kind}-{scheme}-{width}"
                found = _look(browser, html_of(data), tmp_path / f"{where}.png", scheme, width)
                canvas = "dark" if scheme == "dark" and found["dark"] else "light"
                problems += [f"{where}: {p}" for p in _judge(found, canvas)]
                if kind == "welcome":
                    assert "Hallo O'Brien & Söhne," in found["seen"]
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(300)
def test_the_invitation_and_reminder_read_as_well(browser, tmp_path: Path) -> None:
    """The invitation and its reminder, composed as the outbox does (``web.mails.compose``),
    German and Chinese, with an organisation, list and reason that need escaping."""
    settings = load_settings(ROOT / "newsletter.toml")
    settings = replace(settings, organisation=replace(settings.organisation, templates_dir=None))
    url = "https://newsletter.example.org/confirm/" + "1-" + "a" * 40
    problems: list[str] = []
    for language in ("de", "zh"):
        fields = dict(
            language=language,
            list_name="ISA & <Freunde>",
            organisation=settings.organisation.name,
            confirm_url=url,
            days=7,
            expire_days=30,
            reason="Mitglied <seit 2020> & aktiv",
        )
        for kind, mail in (
            ("invitation", InvitationMail(**fields)),  # type: ignore[arg-type]
            ("reminder", ReminderMail(**fields)),  # type: ignore[arg-type]
        ):
            data = compose(Outgoing(mail, "member@example.org"), settings, Theme(), "<m@x>")
            for scheme in ("light", "dark"):
                for width in (600, 375):
                    where = f"{kind}-{language}-{scheme}-{width}"
                    found = _look(browser, html_of(data), tmp_path / f"{where}.png", scheme, width)
                    canvas = "dark" if scheme == "dark" and found["dark"] else "light"
                    problems += [f"{where}: {p}" for p in _judge(found, canvas)]
                    assert "ISA & <Freunde>" in found["seen"], where
                    assert "Mitglied <seit 2020> & aktiv" in found["seen"], where
    assert not problems, "\n".join(problems)


def _look(browser: object, html: str, shot: Path, scheme: str, width: int) -> dict:
    """Load the mail as a client would (nothing fetched), measure its texts, keep a screenshot."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 800}, device_scale_factor=1, color_scheme=scheme
    )
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        found: dict = page.evaluate(PROBE)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert shot.stat().st_size > 1000 and len(found["texts"]) >= 6
    return found


def _judge(found: dict, scheme: str) -> list[str]:
    problems = []
    markup = MARKUP.search(found["seen"])
    if markup:
        problems.append(f"markup in the text: {found['seen'][markup.start() - 20 :][:60]!r}")
    if found["overflow"] > 0:
        problems.append(f"{found['overflow']} px wider than the window")
    for t in found["texts"]:
        if t["size"] < 14 and not t["legal"]:
            problems.append(f"{t['size']} px: {t['text'][:40]}")
        large = t["size"] >= 24 or (t["size"] >= 18.66 and t["weight"] >= 700)
        fg = parse_colour(t["colour"])
        bg = _background(t["layers"], scheme)
        ratio = contrast(fg.over(bg), bg) if fg else 0.0
        if ratio < (AA_LARGE if large else AA_NORMAL):
            problems.append(f"{ratio:.2f}:1 {t['colour']} on {bg.hex}: {t['text'][:40]}")
    return problems
