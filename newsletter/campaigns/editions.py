"""One campaign, several language editions: which recipient gets which, and the totals.

The campaign row holds the primary edition; the others are ``CampaignEdition``
rows. Each recipient's edition is chosen once, at the snapshot: their own
language, else the list's, else the primary. Composing then stays one
template per edition, so every recipient of an edition gets the same bytes
but for their own address and tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sqlmodel import Session, select

from newsletter import languages
from newsletter.campaigns.tables import Campaign, CampaignEdition
from newsletter.errors import BadInput
from newsletter.message.compose import RenderedIssue as Composable


class RenderedIssue(Composable, Protocol):
    """What a campaign keeps of a rendered issue: what compose needs, and which issue and
    language it is (read-only, so a frozen ``Rendered`` is one)."""

    @property
    def slug(self) -> str: ...
    @property
    def language(self) -> str: ...


def edition_matcher(editions: set[str]) -> Callable[[str | None], str | None]:
    """The edition for a subscriber's or list's tag, matched through the catalogs' fallback.

    Both sides go to the catalog they resolve to: a ``zh-CN`` or ``zh-Hans``
    reader gets the ``zh`` edition, ``fr-CH`` the ``fr`` one, and a ``zh-TW``
    reader the ``zh-Hant`` edition, never the Simplified one (cutting every
    tag to its first subtag used to send them that).
    """
    by_catalog = {languages.resolve(e) or e: e for e in sorted(editions)}

    def match(tag: str | None) -> str | None:
        return by_catalog.get(languages.resolve(tag) or "") if tag else None

    return match


def check_editions(
    rendered: RenderedIssue, editions: Sequence[tuple[RenderedIssue, str | None]]
) -> None:
    seen = {rendered.language}
    for other, src in editions:
        where = src or other.language
        if other.slug != rendered.slug:
            raise BadInput(f"{where}: edition of issue {other.slug}, not {rendered.slug}")
        if other.language in seen:
            raise BadInput(f"{where}: a second {other.language!r} edition")
        seen.add(other.language)


def add_editions(
    session: Session,
    campaign: Campaign,
    editions: Sequence[tuple[RenderedIssue, str | None]],
    list_language: str | None,
) -> Callable[[str | None], str | None]:
    """Store the other editions; return the choice of edition for a subscriber's language."""
    for other, src in editions:
        session.add(
            CampaignEdition(
                campaign_id=campaign.id,  # type: ignore[arg-type]
                language=other.language,
                source=src,
                subject=other.subject,
                html=other.html,
                text=other.text,
            )
        )
    tags = {campaign.language, *(other.language for other, _ in editions)}
    match = edition_matcher({t for t in tags if t})
    fallback = match(list_language) or campaign.language

    def choose(subscriber_language: str | None) -> str | None:
        return match(subscriber_language) or fallback

    return choose


def editions_of(session: Session, campaign_id: int) -> list[CampaignEdition]:
    """The campaign's editions besides its primary one, by language."""
    return list(
        session.exec(
            select(CampaignEdition)
            .where(CampaignEdition.campaign_id == campaign_id)
            .order_by(CampaignEdition.language)
        )
    )
