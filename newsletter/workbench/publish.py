"""From issue files to a campaign or a proof: every language edition loaded, rendered, snapshotted.

``campaigns create issues/2021-07.yaml`` (or ``…/2021-07.zh.yaml``) makes one
campaign of all the issue's editions; a proof is one edition, the file given
or the one named with ``--edition``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlmodel import Session

from newsletter.campaigns import store
from newsletter.campaigns.tables import Campaign
from newsletter.config import Settings
from newsletter.errors import BadInput, Problem
from newsletter.issue.editions import Editions, compare_all, load_editions, load_issue_as_sent
from newsletter.message import media
from newsletter.render import Rendered, render_issue


@dataclass(frozen=True)
class RenderedEditions:
    """An issue's editions, rendered; ``warnings`` are what the editions disagree on."""

    editions: Editions
    rendered: tuple[Rendered, ...]
    warnings: list[Problem]

    @property
    def primary(self) -> Rendered:
        return self.rendered[0]

    def others(self) -> list[tuple[Rendered, str | None]]:
        """The editions besides the primary, each with its file, as a campaign stores them."""
        pairs = zip(self.rendered[1:], self.editions.editions[1:], strict=True)
        return [(r, str(e.path)) for r, e in pairs]


def render_editions(path: Path, settings: Settings) -> RenderedEditions:
    """Load and render every edition of the issue ``path`` belongs to (errors of all at once)."""
    editions, _ = load_editions(path)
    rendered = tuple(render_issue(e.issue, settings) for e in editions.editions)
    return RenderedEditions(editions, rendered, compare_all(editions))


def create_campaign_from_file(
    session: Session,
    path: Path,
    list_slug: str,
    settings: Settings,
    *,
    again: bool = False,
    where: str | None = None,
    segment: str | None = None,
) -> tuple[Campaign, RenderedEditions]:
    """One campaign of every edition of the issue; each recipient gets their language's."""
    r = render_editions(path, settings)
    campaign = store.create_campaign(
        session,
        snapshot(r.primary),
        list_slug,
        source=str(r.editions.primary.path),
        again=again,
        editions=[(snapshot(x), file) for x, file in r.others()],
        where=where,
        segment=segment,
    )
    return campaign, r


def snapshot(rendered: Rendered) -> Rendered:
    """``rendered`` as a campaign stores it: its local images inside the HTML (``data:`` URIs).

    The campaign must send the same images when it is resumed next week, from
    another host or after the editor moved the files.
    """
    if not rendered.images:
        return rendered
    return replace(rendered, html=media.embed(rendered.html, [i.file for i in rendered.images]))


def proof_edition(path: Path, settings: Settings, edition: str | None = None) -> Rendered:
    """The edition a proof shows: the file given, or its issue's ``edition`` (a language code)."""
    if edition is None:
        return snapshot(render_issue(load_issue_as_sent(path), settings))
    editions, _ = load_editions(path)
    found = editions.get(edition)
    if found is None:
        have = ", ".join(editions.languages)
        raise BadInput(f"no {edition!r} edition of this issue (it has: {have})", file=str(path))
    return snapshot(render_issue(found.issue, settings))
