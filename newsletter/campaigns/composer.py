"""Per-recipient messages for a campaign: envelope, tokens and bytes.

The campaign's snapshot is rendered into a template once per run; each
delivery then costs only the cheap per-recipient substitution. Used by the
real run and by the dry run alike, so both compose the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.campaigns.editions import editions_of
from newsletter.campaigns.ledger import Job
from newsletter.campaigns.tables import Campaign, CampaignEdition
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.message import media
from newsletter.message.compose import (
    MailingListInfo,
    MessageTemplate,
    Recipient,
    envelope_address,
    sender_domain,
)
from newsletter.message.dkim import signer_from_settings
from newsletter.tokens import bounce_token, message_id_mac, token_key, unsubscribe_token


@dataclass
class _Snapshot:
    subject: str
    html: str
    text: str


def message_template(
    settings: Settings, campaign: Campaign, edition: CampaignEdition | None = None
) -> MessageTemplate:
    """The campaign's snapshot, or one of its other editions, as a template: once per run."""
    snap = edition or campaign
    mode = settings.media.mode
    # The snapshot keeps its images as data: URIs; the mail names them by [media] mode.
    html, images = media.extract(snap.html, media.reference(mode, settings.delivery.base_url))
    return MessageTemplate.build(
        _Snapshot(snap.subject, html, snap.text),
        settings,
        MailingListInfo(campaign.list_slug, campaign.list_name),
        campaign=campaign.uid,
        language=snap.language,
        sign=signer_from_settings(settings),
        images=images if mode == "inline" else (),
    )


def edition_templates(
    db: Database, settings: Settings, campaign: Campaign
) -> dict[str | None, MessageTemplate]:
    """One template per language edition; the primary is also the one for ``None``.

    Deliveries logged before editions existed have no edition: they get the
    campaign's own, which is what they were snapshotted with.
    """
    primary = message_template(settings, campaign)
    templates: dict[str | None, MessageTemplate] = {None: primary, campaign.language: primary}
    assert campaign.id is not None
    with db.session() as s:
        others = editions_of(s, campaign.id)
    for e in others:
        templates[e.language] = message_template(settings, campaign, e)
    return templates


class Composer:
    """Per-recipient envelope, tokens and bytes for one campaign's template."""

    def __init__(self, db: Database, settings: Settings, campaign: Campaign):
        self.key = token_key(db.secret)
        self.domain = sender_domain(settings)
        self.uid = campaign.uid
        self.list_id = campaign.list_id or 0
        self.templates = edition_templates(db, settings, campaign)
        d = settings.delivery
        self.verp_domain = (d.bounce_domain or self.domain) if d.verp else None
        self.sender = settings.organisation.sender_email

    def message_id(self, delivery_id: int) -> str:
        """``<uid>.<delivery id>.<mac>@<domain>``: the ledger records the same.

        Deterministic per delivery, so a retry carries the same Message-ID and
        a receiver can drop the duplicate of a message we had to retry. The
        MAC (:func:`~newsletter.tokens.message_id_mac`) makes it evidence when
        it comes back in a bounce: a reader cannot turn their own Message-ID
        into another delivery's.
        """
        return f"{self.uid}.{delivery_id}.{message_id_mac(self.key, delivery_id)}@{self.domain}"

    def __call__(self, job: Job) -> None:
        job.message_id = job.message_id or self.message_id(job.id)  # the claim's, if claimed
        if self.verp_domain:
            job.sender = f"bounces+{bounce_token(self.key, job.id)}@{self.verp_domain}"
        else:
            job.sender = self.sender
        job.rcpt = envelope_address(job.address)
        token = unsubscribe_token(self.key, job.subscriber_id or 0, self.list_id)
        template = self.templates.get(job.edition) or self.templates[None]
        job.data = template.compose(Recipient(job.address, job.name, token, job.message_id))
