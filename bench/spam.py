"""SpamAssassin's verdict on the sample issues exactly as subscribers receive them.

Usage:  python bench/spam.py

Composes the July 2021 ISA issue and the Riverside issue through the same
message template a campaign uses, runs ``spamassassin --local`` on each, and
prints the score with every rule that fired, once as sent and once as a
receiving server sees it after a relay without reverse DNS (a ``Received``
line SpamAssassin reads as RDNS_NONE, which makes it score hidden and tiny
text much higher). The reference, measured in the same run, is the same
message as the theme wrote it before issue 12: mjml's ``<mj-preview>``
preheader (white 1 px text) and mjml's ``font-size:0px`` layout cells. Needs
the ``spamassassin`` command (Debian: apt-get install spamassassin).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.config import load_settings  # noqa: E402
from newsletter.issue.load import load_issue  # noqa: E402
from newsletter.render import render_issue  # noqa: E402
from newsletter.workbench.spam import check_spam, compose_sample  # noqa: E402

SAMPLES = [
    ("ISA 2021-07", ROOT / "newsletter.toml", ROOT / "issues" / "2021-07.yaml"),
    (
        "Riverside 2026-11",
        ROOT / "examples" / "riverside" / "newsletter.toml",
        ROOT / "examples" / "riverside" / "issues" / "2026-11.yaml",
    ),
]
NO_RDNS_RELAY = (
    b"Received: from relay.example.net (unknown [198.18.0.10])\r\n"
    b"\tby mx.example.org (Postfix) with ESMTP id 4F1A2B3C4D\r\n"
    b"\tfor <reader@example.org>; Wed,  2 Dec 2026 02:00:00 +0000 (UTC)\r\n"
)
MJ_PREVIEW = (
    '<mj-raw><div style="display:none;font-size:1px;color:#ffffff;line-height:1px;'
    'max-height:0px;max-width:0px;opacity:0;overflow:hidden;">{{ issue.preheader }}</div></mj-raw>'
)


def verdicts(label: str, config: Path, issue: Path, *, old: bool = False) -> list[float]:
    """Print and return the score as sent and through a relay without reverse DNS."""
    settings = load_settings(config)
    rendered = render_issue(load_issue(issue), settings)
    if old:  # mjml's own output: font-size:0px, as before
        html = re.sub(r"font-size:(\s*)0pt", r"font-size:\g<1>0px", rendered.html)
        rendered = replace(rendered, html=html)
    message = compose_sample(rendered, settings)
    scores = []
    for relay, prefix in (("as sent", b""), ("no rDNS relay", NO_RDNS_RELAY)):
        verdict = check_spam(prefix + message)
        assert verdict is not None
        rules = ", ".join(f"{name} {points:+.3g}" for name, points in verdict.rules)
        print(f"  {label:<28} {relay:<14} {verdict.score:4.1f} points  {rules}")
        scores.append(verdict.score)
    return scores


def with_old_preheader(config: Path, folder: Path) -> Path:
    """A copy of ``config`` whose templates folder holds only the old preheader."""
    templates = folder / "templates"
    templates.mkdir(parents=True)
    (templates / "preheader.mjml.j2").write_text(MJ_PREVIEW, encoding="utf-8")
    own = load_settings(config).templates_dir
    if own:
        for f in own.glob("*.mjml.j2"):
            if f.name != "preheader.mjml.j2":
                shutil.copy(f, templates / f.name)
    lines = [
        line
        for line in config.read_text("utf-8").splitlines()
        if not line.startswith("templates_dir")
    ]
    at = lines.index("[organisation]") + 1
    lines.insert(at, 'templates_dir = "templates"')
    copy = folder / "newsletter.toml"
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return copy


def main() -> None:
    if shutil.which("spamassassin") is None:
        sys.exit("spamassassin is not installed (Debian: apt-get install spamassassin)")
    print("SpamAssassin --local, composed message as a subscriber receives it:")
    with tempfile.TemporaryDirectory() as tmp:
        for label, config, issue in SAMPLES:
            now = verdicts(f"{label}, theme now", config, issue)
            old_config = with_old_preheader(config, Path(tmp) / label.replace(" ", "_"))
            before = verdicts(f"{label}, before", old_config, issue, old=True)
            for relay, a, b in zip(("as sent", "no rDNS relay"), now, before, strict=True):
                print(f"  {label:<28} {relay:<14} {a - b:+4.1f} points against the reference")


if __name__ == "__main__":
    main()
