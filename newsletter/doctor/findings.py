"""What the doctor reports: one finding per check, each with the one-line fix an admin applies.

Statuses, worst last: ``ok``, ``info`` (nothing to do, worth knowing), ``warning`` (mail goes
out but lands in spam or loses a feature somewhere), ``error`` (big mailbox providers reject or
junk the mail, or bounces cannot come back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

STATUSES = ("ok", "info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    check: str  # spf, dkim, dmarc, alignment, ptr, ehlo, mx, mta-sts, tls-rpt, relay, web, volume
    status: str
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        assert self.status in STATUSES, self.status

    def row(self) -> dict[str, str]:
        return asdict(self)


def worst(findings: list[Finding]) -> str:
    """The worst status among ``findings`` (``ok`` for none)."""
    return max((f.status for f in findings), key=STATUSES.index, default="ok")
