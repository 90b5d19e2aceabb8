"""The link in every message: unsubscribe, undo and preferences for whoever holds its token.

The token (:func:`newsletter.tokens.unsubscribe_token`) names one subscriber
on one list and never expires: a two-year-old message must still
unsubscribe. Whoever holds it may leave that list (RFC 8058 one-click, the
web page, or a mail to the ``mailto:`` address in ``List-Unsubscribe``),
see the lists they are on, and change their name and language. Every change
goes through :mod:`newsletter.subscribers.people`, so the consent log and
``subscribers data`` show it with the source given here (``web``,
``one-click``, ``mailto``).

Leaving the last list one is on also suppresses the address, as
``subscribers unsubscribe ADDRESS`` does: no import and no list created later
can mail them again. Changes lock the subscriber row first, so two clicks at
once (a double click, a mail scanner and the person) change things once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import database_of
from newsletter.db.columns import utcnow
from newsletter.db.compiled import DriverCursor, Statements
from newsletter.subscribers.people import add_subscriber, edit_subscriber, unsubscribe
from newsletter.subscribers.suppressions import suppression_for, unsuppress
from newsletter.subscribers.tables import (
    ConsentEvent,
    MailingList,
    Reason,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from newsletter.tokens import TokenError, ids, token_key

ACTOR = "subscriber"


@dataclass(frozen=True)
class LinkHolder:
    """Who a valid token speaks for, and the list it came from."""

    subscriber: Subscriber
    mailing_list: MailingList
    subscription: Subscription

    @property
    def unsubscribed(self) -> bool:
        return self.subscription.status == Status.UNSUBSCRIBED


def token_ids(session: Session, token: str) -> tuple[int, int]:
    """(subscriber id, list id) of a genuine unsubscribe token; no database read."""
    subscriber_id, list_id = ids(token_key(database_of(session).secret), "unsubscribe", token, 2)
    return subscriber_id, list_id


def resolve(session: Session, token: str, *, lock: bool = False) -> LinkHolder:
    """The subscriber and list behind ``token``, or ``TokenError``.

    A token whose subscriber, list or subscription no longer exists is
    refused like a forged one: the answer must not tell which it was.
    ``lock`` takes the subscriber's row for the rest of the transaction
    before anything is read, so concurrent changes cannot both see the old
    state.
    """
    subscriber_id, list_id = token_ids(session, token)
    if lock:
        # A no-op write: SQLite takes its write lock, PostgreSQL locks the row.
        session.execute(
            sa.update(Subscriber)
            .where(Subscriber.id == subscriber_id)  # type: ignore[arg-type]
            .values(id=Subscriber.id)
        )
    sub = session.get(Subscriber, subscriber_id)
    ml = session.get(MailingList, list_id)
    row = session.get(Subscription, (subscriber_id, list_id))
    if sub is None or ml is None or row is None:
        raise TokenError("invalid or expired link token")
    return LinkHolder(sub, ml, row)


def active_lists(session: Session, subscriber_id: int) -> list[MailingList]:
    """The lists the subscriber is on (confirmed or awaiting confirmation), by name."""
    return list(
        session.exec(
            select(MailingList)
            .join(Subscription, Subscription.list_id == MailingList.id)  # type: ignore[arg-type]
            .where(Subscription.subscriber_id == subscriber_id)
            .where(Subscription.status != Status.UNSUBSCRIBED.value)
            .order_by(MailingList.name, MailingList.slug)
        ).all()
    )


def _leave(session: Session, holder_id: int, slugs: list[str], *, source: str) -> list[str]:
    """Leave ``slugs``; leaving every list suppresses the address too."""
    remaining = {ml.slug for ml in active_lists(session, holder_id)}
    leaving = [s for s in slugs if s in remaining]
    if not leaving:
        return []
    if remaining <= set(leaving):
        return unsubscribe(session, holder_id, None, source=source, actor=ACTOR)
    changed: list[str] = []
    for slug in leaving:
        changed += unsubscribe(session, holder_id, slug, source=source, actor=ACTOR)
    return changed


@dataclass(frozen=True)
class Left:
    """What an unsubscribe by token did, and what its answer page needs to say so."""

    list_name: str
    list_language: str | None
    language: str | None
    changed: bool


_S = Subscriber.__table__  # type: ignore[attr-defined]
_L = MailingList.__table__  # type: ignore[attr-defined]
_M = Subscription.__table__  # type: ignore[attr-defined]
_P = Suppression.__table__  # type: ignore[attr-defined]
_E = ConsentEvent.__table__  # type: ignore[attr-defined]
_O = _M.alias("other")
_B = sa.bindparam
_EVENT = ("at", "actor", "action", "subscriber_id", "list_slug", "subject", "subject_hash",
          "source", "detail")  # fmt: skip
_SQL = Statements(
    lock=sa.update(_S).where(_S.c.id == _B("sid")).values(id=_S.c.id),
    state=sa.select(
        _S.c.key, _S.c.email, _S.c.key_hash, _S.c.language, _L.c.slug, _L.c.name,
        _L.c.language.label("list_language"), _M.c.status,
        sa.select(sa.func.count())
        .where(_O.c.subscriber_id == _S.c.id, _O.c.list_id != _L.c.id)
        .where(_O.c.status != Status.UNSUBSCRIBED.value)
        .scalar_subquery()
        .label("others"),
        sa.exists().where(_P.c.key_hash == _S.c.key_hash).label("suppressed"),
    )
    .select_from(_S.join(_M, _M.c.subscriber_id == _S.c.id).join(_L, _L.c.id == _M.c.list_id))
    .where(_S.c.id == _B("sid"), _L.c.id == _B("lid")),
    leave=sa.update(_M)
    .where(_M.c.subscriber_id == _B("sid"), _M.c.list_id == _B("lid"))
    .values(status=Status.UNSUBSCRIBED.value, unsubscribed_at=_B("now"), updated_at=_B("now")),
    suppress=sa.insert(_P).values(
        {c: _B(c) for c in ("key_hash", "address", "reason", "detail", "source", "created_at")}
    ),
    event=sa.insert(_E).values({c: _B(c) for c in _EVENT}),
)  # fmt: skip


def unsubscribe_by_token(session: Session, token: str, *, source: str) -> Left:
    """Take the token's subscriber off the token's list; idempotent.

    ``source`` is ``web`` (the page's button), ``one-click`` (RFC 8058) or
    ``mailto`` (a mail to the ``List-Unsubscribe`` address). Raises
    ``TokenError`` for any token that does not resolve.
    """
    subscriber_id, list_id = token_ids(session, token)
    return unsubscribe_by_ids(session.connection(), subscriber_id, list_id, source=source)


def unsubscribe_by_ids(
    conn: sa.Connection, subscriber_id: int, list_id: int, *, source: str
) -> Left:
    """:func:`unsubscribe_by_token` for the ids of a token already verified.

    Raises ``TokenError`` when the subscriber is not on the list, and then
    has changed nothing (the row lock is a no-op write), so a caller that
    runs several of these in one transaction (``web.groupcommit``) may go on
    with the others.

    The rows are exactly those :func:`~newsletter.subscribers.people.unsubscribe`
    and :func:`~newsletter.subscribers.suppressions.suppress` write (the
    subscription, a ``suppress`` event and the suppression when it was the
    last list, the ``unsubscribe`` event; ``tests/test_web_unsubscribe.py``
    compares them), written with a handful of statements compiled once and
    run on the driver's cursor (:mod:`newsletter.db.compiled`): this is the
    one-click endpoint mailbox providers call, and the ORM path costs ten
    times as much.
    """
    sql = _SQL.cursor(conn)
    try:
        return _unsubscribe(sql, subscriber_id, list_id, source)
    finally:
        sql.close()


def _unsubscribe(sql: DriverCursor, subscriber_id: int, list_id: int, source: str) -> Left:
    ids_ = {"sid": subscriber_id, "lid": list_id}
    sql.run("lock", **ids_)
    row = sql.run("state", **ids_).fetchone()
    if row is None:
        raise TokenError("invalid or expired link token")
    key, email, key_hash, language, slug, name, list_language, status, others, suppressed = row
    changed = status != Status.UNSUBSCRIBED
    if changed:
        now = utcnow()
        sql.run("leave", **ids_, now=now)
        event = {"at": now, "actor": ACTOR, "subscriber_id": subscriber_id,
                 "subject": key, "subject_hash": key_hash, "source": source}  # fmt: skip
        if others == 0 and not suppressed:
            reason = Reason.UNSUBSCRIBED.value
            sql.run("suppress", key_hash=key_hash, address=email, reason=reason,
                    detail=None, source=source, created_at=now)  # fmt: skip
            sql.run("event", **event, action="suppress", list_slug=None, detail=reason)
        sql.run("event", **event, action="unsubscribe", list_slug=slug, detail=None)
    return Left(name, list_language, language, changed)


class NeedsConfirmation(Exception):
    """Coming back needs a confirmed opt-in (a double opt-in list, or a suppression)."""


def undo_by_token(session: Session, token: str, *, source: str = "web") -> LinkHolder:
    """Put the token's subscriber back on a single opt-in list they just left.

    The token proves the click came from the mailbox's holder. A double
    opt-in list, or a suppression for any reason other than unsubscribing,
    needs a confirmed opt-in instead: then ``NeedsConfirmation`` is raised
    and nothing changes.
    """
    holder = resolve(session, token, lock=True)
    sub, ml = holder.subscriber, holder.mailing_list
    if not holder.unsubscribed:
        return holder
    blocked = suppression_for(session, sub.email)
    if ml.double_opt_in or (blocked is not None and blocked.reason != Reason.UNSUBSCRIBED):
        raise NeedsConfirmation(ml.slug)
    if blocked is not None:
        unsuppress(session, sub.email, source=source, actor=ACTOR)
    add_subscriber(
        session,
        sub.email,
        [ml.slug],
        status=Status.CONFIRMED,
        consent_note="clicked undo on the unsubscribe page (single opt-in list)",
        resubscribe=True,
        source=source,
        actor=ACTOR,
    )
    session.refresh(holder.subscription)
    return holder


def update_preferences(
    session: Session,
    token: str,
    *,
    name: str | None,
    language: str | None,
    keep: set[str],
    source: str = "web",
    timezone: str | None = None,
) -> list[str]:
    """Change name and language and leave every list not in ``keep``; returns lists left.

    Only lists the person is on can be left; slugs of other lists in
    ``keep`` are ignored rather than reported, so the form reveals nothing.
    """
    holder = resolve(session, token, lock=True)
    assert holder.subscriber.id is not None
    edit_subscriber(
        session, holder.subscriber.id, name=name, language=language, source=source, actor=ACTOR,
        timezone=timezone,
    )  # fmt: skip
    leaving = [ml.slug for ml in active_lists(session, holder.subscriber.id) if ml.slug not in keep]
    return _leave(session, holder.subscriber.id, leaving, source=source)


def masked(address: str) -> str:
    """``a•••@example.org``: enough to recognise one's own address, not to harvest it."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"
