"""Campaigns as records: create (snapshot), look up, summarise, pause, cancel, log.

Sending lives in ``sender.py``; everything here is short database work that
the CLI and a future web UI call alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.campaigns import leases, snapshot, totals
from newsletter.campaigns.editions import RenderedIssue, add_editions, check_editions
from newsletter.campaigns.state import CampaignError as CampaignError  # re-exported
from newsletter.campaigns.state import CampaignSummary
from newsletter.campaigns.state import describe_state as describe_state  # re-exported
from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus
from newsletter.db.columns import utcnow
from newsletter.errors import OperationFailed
from newsletter.subscribers import gdpr, segment_store, segments
from newsletter.subscribers.addresses import AddressError, parse_address
from newsletter.subscribers.lists import get_list

_PAGE = 1000


class CampaignBusy(OperationFailed):
    """The campaign's state does not allow this now: another sender, or use resume."""


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}; see: newsletter campaigns list")
    return campaign


def previous_campaigns(session: Session, issue_slug: str, list_id: int) -> list[Campaign]:
    """Real (non-proof) campaigns of this issue to this list that may have sent mail."""
    rows = session.exec(
        select(Campaign)
        .where(Campaign.issue_slug == issue_slug, Campaign.list_id == list_id)
        .where(Campaign.kind == "campaign")
        .order_by(Campaign.id)  # type: ignore[arg-type]
    ).all()
    return [c for c in rows if c.status != CampaignStatus.CANCELLED or c.started_at is not None]


def create_campaign(
    session: Session,
    rendered: RenderedIssue,
    list_slug: str,
    *,
    source: str | None = None,
    again: bool = False,
    editions: Sequence[tuple[RenderedIssue, str | None]] = (),
    where: str | None = None,
    segment: str | None = None,
) -> Campaign:
    """Snapshot the rendered issue and the list's current recipients as a draft.

    Recipients are the list's confirmed, non-suppressed subscribers now
    (those of them the ``where`` expression or the saved ``segment`` selects);
    later sign-ups are not added, later unsubscribes are honoured at send
    time. The same issue to the same list twice is refused unless ``again``.
    The deliveries are written by the database in one statement
    (:mod:`newsletter.campaigns.snapshot`), in the caller's transaction.

    ``editions`` are the issue's other language editions, each with its
    file. Each recipient gets the edition in their own language, else in the
    list's, else ``rendered`` (the primary); the choice is recorded in the
    delivery and never changes, so a resumed campaign sends the same bytes.
    """
    ml = get_list(session, list_slug)
    assert ml.id is not None
    check_editions(rendered, editions)
    condition, source = None, "--where"
    if segment is not None:
        saved = segment_store.get_segment(session, segment)
        where, source = saved.expression, f"segment {saved.name}"
    if where is not None:
        condition = segments.compile_where(session.connection(), where, source=source)
    if not again:
        earlier = previous_campaigns(session, rendered.slug, ml.id)
        if earlier:
            c = earlier[-1]
            raise CampaignError(
                f"issue {rendered.slug} already went to list {ml.slug} in campaign {c.id} "
                f"({c.status}); use --again to send it once more"
            )
    campaign = Campaign(
        id=_next_campaign_id(session),
        uid=secrets.token_hex(8),
        issue_slug=rendered.slug,
        issue_source=source,
        list_id=ml.id,
        list_slug=ml.slug,
        list_name=ml.name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        language=rendered.language,
        segment_name=segment,
        segment_expression=where,
    )
    session.add(campaign)
    session.flush()
    choose = add_editions(session, campaign, editions, ml.language)
    session.flush()  # the editions, before the statements below go past the ORM
    connection = session.connection()
    edition = snapshot.edition_of(connection, choose, several=bool(editions))
    assert campaign.id is not None
    count = snapshot.insert_recipients(connection, campaign.id, ml.id, condition, edition, utcnow())
    campaign.recipients = count
    session.add(campaign)
    return campaign


def _next_campaign_id(session: Session) -> int | None:
    """The id of a new campaign: the next number after the last real campaign's.

    Proofs have ids below zero (:func:`create_proof`), so they never use up
    a campaign number. PostgreSQL's sequence ignores them by itself (None:
    let it choose); SQLite's rowid would count up from a proof when no real
    campaign exists yet, so the id is given.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    highest = session.execute(sa.select(sa.func.max(Campaign.id))).scalar() or 0
    return max(highest, 0) + 1


def create_proof(
    session: Session,
    rendered: RenderedIssue,
    address: str,
    *,
    list_slug: str | None = None,
    source: str | None = None,
) -> Campaign:
    """A one-recipient campaign marked ``proof``: logged, but never blocks the real send.

    Its id is negative (-1, -2, …): a proof is logged with its issue, and the
    first real campaign is still number 1.

    The address is validated like a subscriber's, so a typo (or a line
    break that would end up in the SMTP envelope) is bad input, not a send.
    """
    try:
        address = parse_address(address).email
    except AddressError as exc:
        raise AddressError(f"--to: {exc}") from exc
    ml = get_list(session, list_slug) if list_slug else None
    lowest = session.execute(sa.select(sa.func.min(Campaign.id))).scalar() or 0
    campaign = Campaign(
        id=min(lowest, 0) - 1,
        uid=secrets.token_hex(8),
        kind="proof",
        issue_slug=rendered.slug,
        issue_source=source,
        list_id=ml.id if ml else None,
        list_slug=ml.slug if ml else "proof",
        list_name=ml.name if ml else "Proof",
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        language=rendered.language,
        recipients=1,
    )
    session.add(campaign)
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, address=address, edition=rendered.language))
    return campaign


def status_counts(session: Session, campaign_id: int) -> dict[str, int]:
    return totals.status_counts(session.connection(), campaign_id)


def summarize(session: Session, campaign: Campaign) -> CampaignSummary:
    assert campaign.id is not None
    counts = status_counts(session, campaign.id)
    editions = totals.edition_totals(
        session.connection(), campaign.id, campaign.language, campaign.subject, counts
    )
    next_wave = totals.next_wave_of(session.connection(), campaign)
    holder = leases.holder(session, campaign)
    return totals.summary_of(campaign, counts, holder, editions, next_wave)


def list_campaigns(session: Session, *, proofs: bool = False) -> list[CampaignSummary]:
    """Every campaign by id; proofs (``newsletter send --to``, ids below zero) only if asked:
    an editor sends many, and they buried the campaigns at the top of the list."""
    query = select(Campaign).order_by(Campaign.id)  # type: ignore[arg-type]
    if not proofs:
        query = query.where(Campaign.kind != "proof")
    return [summarize(session, c) for c in session.exec(query).all()]


def pause_campaign(session: Session, campaign_id: int) -> Campaign:
    """Ask a running sender to stop after its messages in flight (it polls the status)."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.DRAFT):
        raise CampaignError(f"campaign {campaign_id} is {campaign.status}; nothing to pause")
    campaign.status = CampaignStatus.PAUSED.value
    session.add(campaign)
    return campaign


def cancel_campaign(session: Session, campaign_id: int) -> int:
    """Cancel every delivery not yet attempted or awaiting retry; returns how many."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        raise CampaignError(f"campaign {campaign_id} is already cancelled")
    cancelled = cancel_open_deliveries(session, campaign_id)
    campaign.status = CampaignStatus.CANCELLED.value
    session.add(campaign)
    return cancelled


def cancel_open_deliveries(session: Session, campaign_id: int) -> int:
    """Mark queued and deferred deliveries cancelled; returns how many.

    Also run when a sender lets go of a cancelled campaign: a message that
    was in flight during the cancel and came back "try later" must not stay
    deferred for a retry that will never come.
    """
    open_states = [DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value]
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.campaign_id == campaign_id)  # type: ignore[arg-type]
        .where(Delivery.status.in_(open_states))  # type: ignore[attr-defined]
        .values(status=DeliveryStatus.CANCELLED.value, finished_at=utcnow(), next_attempt_at=None)
    )
    return result.rowcount  # type: ignore[attr-defined]


def iter_log(
    session: Session, campaign_id: int, statuses: list[str] | None = None
) -> Iterator[Delivery]:
    """The delivery log of one campaign by id, in constant memory."""
    get_campaign(session, campaign_id)
    query = select(Delivery).where(Delivery.campaign_id == campaign_id)
    if statuses:
        query = query.where(Delivery.status.in_(statuses))  # type: ignore[attr-defined]
    query = query.order_by(Delivery.id).execution_options(yield_per=_PAGE)  # type: ignore[arg-type]
    yield from session.exec(query)


def _rows_of(person: gdpr.Person) -> sa.ColumnElement[bool]:
    cond = sa.func.lower(Delivery.address) == person.key
    if person.subscriber_id is not None:
        cond = sa.or_(cond, Delivery.subscriber_id == person.subscriber_id)  # type: ignore[arg-type]
    return cond


def collect_deliveries(session: Session, person: gdpr.Person) -> list[dict[str, object]] | None:
    """Art. 15: every message we tried to send this person, and how it went."""
    rows = session.execute(
        select(Delivery, Campaign.issue_slug)
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)  # type: ignore[arg-type]
        .where(_rows_of(person))
        .order_by(Delivery.id)  # type: ignore[arg-type]
    ).all()
    return [
        {
            "kind": d.kind,
            "campaign": d.campaign_id,
            "issue": issue,
            "edition": d.edition,
            "zone": d.zone,  # a local-time schedule's, maybe inferred from the language
            "address": d.address,
            "status": d.status,
            "attempts": d.attempts,
            "reply": d.smtp_reply,
            "message_id": d.message_id,
            "queued_at": d.queued_at,
            "finished_at": d.finished_at,
        }
        for d, issue in rows
    ] or None


def forget_deliveries(session: Session, person: gdpr.Person) -> int:
    """Art. 17: erase a person from the delivery log; the campaign totals stay true.

    Rows keep their status so counts remain right, but lose the address,
    name, message id and server replies (which often quote the address).
    A queued delivery without an address is skipped at send time.
    """
    result = session.execute(
        sa.update(Delivery)
        .where(_rows_of(person))
        .values(
            subscriber_id=None,
            address=None,
            name=None,
            message_id=None,
            smtp_reply=None,
            history=None,
            queue_id=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined]


gdpr.register("deliveries", collect=collect_deliveries, scrub=forget_deliveries)
