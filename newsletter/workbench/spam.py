"""SpamAssassin's verdict on the message exactly as a subscriber receives it.

The issue is composed through the same ``MessageTemplate`` a campaign uses
(headers, both parts, quoted-printable, the List-Unsubscribe pair, DKIM when
configured) for a stand-in subscriber, and handed to a local
``spamassassin -L``: local tests only, no DNS or network lookups, nothing
learned, nothing written outside a temporary folder.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Settings
from newsletter.errors import OperationFailed
from newsletter.message.compose import MailingListInfo, MessageTemplate, Recipient, sender_domain
from newsletter.message.dkim import signer_from_settings
from newsletter.message.media import MediaFile
from newsletter.render import Rendered
from newsletter.tokens import unsubscribe_token

SAMPLE_ADDRESS = "reader@example.org"
SAMPLE_NAME = "Anna Müller"
TIMEOUT = 120.0


@dataclass(frozen=True)
class SpamVerdict:
    score: float
    required: float
    rules: tuple[tuple[str, float], ...]  # every rule that fired, with its points
    version: str

    @property
    def is_spam(self) -> bool:
        return self.score >= self.required

    @property
    def scoring(self) -> list[tuple[str, float]]:
        """The rules that moved the score (SpamAssassin shows them as 0.0 otherwise)."""
        return [(name, pts) for name, pts in self.rules if abs(pts) >= 0.05]


def compose_sample(
    rendered: Rendered,
    settings: Settings,
    list_name: str | None = None,
    images: Sequence[MediaFile] = (),
) -> bytes:
    """One message of the issue for a stand-in subscriber, byte for byte as sent.

    The token and Message-ID have the real lengths and shapes, so rules about
    short or odd Message-IDs judge what subscribers get.
    """
    org = settings.organisation
    template = MessageTemplate.build(
        rendered,
        settings,
        MailingListInfo("newsletter", list_name or org.name),
        campaign=secrets.token_hex(8),  # a campaign uid's shape, for its Feedback-ID
        language=rendered.language,
        sign=signer_from_settings(settings),
        images=images,
    )
    token = unsubscribe_token(secrets.token_bytes(32), 1, 1)
    message_id = f"{secrets.token_hex(8)}.1@{sender_domain(settings)}"
    return template.compose(Recipient(SAMPLE_ADDRESS, SAMPLE_NAME, token, message_id))


def spamassassin_path() -> str | None:
    return shutil.which("spamassassin")


def check_spam(message: bytes, executable: str | None = None) -> SpamVerdict | None:
    """Run ``spamassassin -L`` on ``message``; None when SpamAssassin is not installed."""
    exe = executable or spamassassin_path()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="newsletter-sa-") as home:
        prefs = Path(home) / "user_prefs"
        prefs.write_text("", encoding="utf-8")
        try:
            proc = subprocess.run(
                [
                    exe,
                    "--local",
                    "--prefspath",
                    str(prefs),
                    "--cf",
                    "add_header all Tests _TESTSSCORES(,)_",
                ],
                input=message,
                capture_output=True,
                timeout=TIMEOUT,
                # HOME keeps Bayes and per-user files out of the editor's home folder.
                env={**os.environ, "HOME": home},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OperationFailed(f"spamassassin did not run: {exc}") from exc
    return parse_verdict(proc.stdout, proc.stderr.decode("utf-8", "replace"))


def parse_verdict(output: bytes, stderr: str = "") -> SpamVerdict:
    """Read score, threshold and rules from the headers SpamAssassin added."""
    head = output.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    unfolded = re.sub(r"\r?\n[ \t]+", " ", head)
    status = re.search(r"^X-Spam-Status: .*?score=(-?[\d.]+) required=(-?[\d.]+)", unfolded, re.M)
    if status is None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no X-Spam-Status header"
        raise OperationFailed(f"spamassassin gave no verdict: {detail}")
    tests = re.search(r"^X-Spam-Tests: (.*)$", unfolded, re.M)
    rules: list[tuple[str, float]] = []
    for item in (tests.group(1) if tests else "").replace(" ", "").split(","):
        name, _, points = item.partition("=")
        if name and name != "none":
            rules.append((name, float(points or 0)))
    version = re.search(r"^X-Spam-Checker-Version: SpamAssassin (\S+)", unfolded, re.M)
    return SpamVerdict(
        float(status.group(1)),
        float(status.group(2)),
        tuple(sorted(rules, key=lambda r: (-abs(r[1]), r[0]))),
        version.group(1) if version else "",
    )
