"""Volume and complaints: which of the providers' bulk-sender rules apply, and whether the
last campaigns stayed under their complaint limits (Gmail: 0.1 % advised, 0.3 % enforced).
"""

from __future__ import annotations

from sqlmodel import Session

from newsletter.campaigns.totals import complaint_rate, reader
from newsletter.doctor.dnschecks import BULK_PER_DAY
from newsletter.doctor.findings import Finding
from newsletter.subscribers.lists import list_summaries

RECENT = 5


def volume_findings(session: Session) -> tuple[int, list[Finding]]:
    """The largest list's confirmed count (one campaign's daily volume) and the findings."""
    lists = list_summaries(session)
    largest = max(lists, key=lambda s: s.confirmed, default=None)
    volume = largest.confirmed if largest else 0
    found = []
    if largest is None:
        found.append(Finding("volume", "info", "no lists yet"))
    elif volume > BULK_PER_DAY:
        found.append(
            Finding(
                "volume",
                "info",
                f"list {largest.slug} has {volume:,} confirmed subscribers, over "
                f"{BULK_PER_DAY:,} a day: the bulk-sender rules apply (SPF and DKIM aligned, "
                "DMARC, one-click unsubscribe, complaints under 0.3 %)",
            )
        )
    else:
        found.append(
            Finding(
                "volume",
                "ok",
                f"largest list {largest.slug}: {volume:,} confirmed, under the "
                f"{BULK_PER_DAY:,}-a-day bulk-sender threshold",
            )
        )
    query = reader(session.connection())
    rows = query("SELECT id FROM campaign ORDER BY id DESC LIMIT ?", RECENT)
    for (campaign_id,) in rows:
        rate = complaint_rate(session.connection(), campaign_id)
        if not rate.sent:
            continue
        text = f"campaign {campaign_id}: {rate.complaints} complaints of {rate.sent:,} sent"
        text += f" ({rate.rate:.2%})"
        fix = "" if rate.level == "ok" else "send only to people who asked; make leaving easy"
        found.append(Finding("complaints", rate.level, text, fix))
    return volume, found
