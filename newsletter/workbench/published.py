"""Are a campaign's hosted images online? Asked before the first message goes out.

Apart from ``publish.py`` so that ``campaigns send`` does not load rendering.
"""

from __future__ import annotations

from sqlmodel import Session

from newsletter.campaigns.editions import editions_of
from newsletter.campaigns.tables import Campaign
from newsletter.config import Settings
from newsletter.errors import OperationFailed
from newsletter.message import media
from newsletter.workbench.links import check_links


def hosted_images(session: Session, campaign: Campaign, settings: Settings) -> list[str]:
    """The addresses the campaign's mail loads its images from (none in ``inline`` mode)."""
    if settings.media.mode != "hosted":
        return []
    assert campaign.id is not None
    htmls = [campaign.html] + [e.html for e in editions_of(session, campaign.id)]
    names = [f.name for html in htmls for f in media.extract(html, str)[1]]
    base = settings.delivery.base_url
    return [media.hosted_url(base, name) for name in dict.fromkeys(names)]


def require_published(urls: list[str]) -> None:
    """Refuse to start while a hosted image is not online: every reader would see a hole.

    One HEAD request each (GET where HEAD is refused), as ``check --links`` does.
    """
    missing = [r for r in check_links(urls) if not r.ok]
    if missing:
        lines = [f"  {r.url}: {r.status or r.error}" for r in missing]
        raise OperationFailed(
            f"{len(missing)} of the campaign's {len(urls)} image(s) are not published:\n"
            + "\n".join(lines)
            + "\nPublish the archive first (newsletter archive build, or newsletter serve), "
            "then send again."
        )
