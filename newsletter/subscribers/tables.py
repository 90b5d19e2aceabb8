"""The subscriber tables: who receives which list, and who must never be mailed again.

Addresses are stored twice on purpose: ``email`` as the person gave it (so we
mail exactly that) and ``key``, the normalised form every uniqueness and
suppression check uses. ``key_hash`` is a keyed hash of ``key``: suppressions
and the audit log can match a forgotten person by it without keeping the
address itself. Change these tables only together with a new migration in
``newsletter/db/migrations/versions/``; ``tests/test_migrations.py`` compares both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.db.columns import UTCDateTime, utcnow
from newsletter.subscribers.status import Reason, Status

__all__ = [
    "ConsentEvent",
    "MailingList",
    "Meta",
    "Reason",
    "Segment",
    "Signup",
    "SignupRequest",
    "Status",
    "Subscriber",
    "Subscription",
    "Suppression",
]


def _when(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    key: str = Field(max_length=320, sa_column_kwargs={"unique": True})
    # Not indexed: suppressions are looked up by their own unique key_hash, and a
    # random-hash index would triple the cost of a bulk import.
    key_hash: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=400)
    language: str | None = Field(default=None, max_length=35)
    # The IANA zone the person gave (import, sign-up, manage page, `subscribers
    # edit`); never one guessed from their language (see campaigns.waves).
    timezone: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = _when()
    updated_at: datetime = _when()


class MailingList(SQLModel, table=True):
    __tablename__ = "mailing_list"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
    description: str | None = None
    language: str | None = Field(default=None, max_length=35)
    # The sign-up form's choices, "fr,zh-Hans,ar"; None offers every language with a catalog.
    languages: str | None = Field(default=None, max_length=200)
    double_opt_in: bool = True
    created_at: datetime = _when()
    # For campaigns sent at each subscriber's local time: the zone of a
    # subscriber who gave none, and whether their language may stand in first.
    timezone: str | None = Field(default=None, max_length=64)
    timezone_from_language: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    # The unconfirmed are reminded once after this many days (0: never) and
    # deleted after ``expire_after_days`` (newsletter.subscribers.expiry).
    remind_after_days: int = Field(default=3, sa_column_kwargs={"server_default": "3"})
    expire_after_days: int = Field(default=30, sa_column_kwargs={"server_default": "30"})

    @property
    def signup_languages(self) -> list[str]:
        return [t for t in (self.languages or "").split(",") if t]


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"
    __table_args__ = (sa.Index("ix_subscription_list_status", "list_id", "status"),)

    subscriber_id: int = Field(
        primary_key=True,
        sa_column_args=[sa.ForeignKey("subscriber.id", ondelete="CASCADE")],
    )
    list_id: int = Field(
        primary_key=True,
        sa_column_args=[sa.ForeignKey("mailing_list.id", ondelete="CASCADE")],
    )
    status: str = Field(max_length=16)
    source: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _when()
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = _when()


class Suppression(SQLModel, table=True):
    """An address that must not be mailed, kept even after the subscriber is gone.

    ``address`` is NULL once the person was forgotten; ``key_hash`` still
    matches them, so an old CSV cannot bring the address back.
    """

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    address: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=16)
    detail: str | None = None
    source: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _when()


class ConsentEvent(SQLModel, table=True):
    """The audit log: who did what to whom, when, and on what basis.

    ``subject`` is the address key in plain text (NULL after ``forget``);
    ``subject_hash`` survives so the record of an erasure stays provable.
    ``detail`` never holds personal data by convention (field names, not values).
    """

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    actor: str = Field(max_length=200)
    action: str = Field(max_length=32)
    subscriber_id: int | None = Field(
        default=None,
        index=True,
        sa_column_args=[sa.ForeignKey("subscriber.id", ondelete="SET NULL")],
    )
    list_slug: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=320)
    # Not indexed on purpose (see Subscriber.key_hash): only the rare GDPR
    # commands search by it, and they can afford a scan.
    subject_hash: str = Field(max_length=64)
    source: str = Field(max_length=1000)
    detail: str | None = None


class Signup(SQLModel, table=True):
    """A sign-up waiting for its confirmation click (double opt-in).

    Nothing about the person changes until they click: the subscriber and the
    subscription are created (or a suppression lifted) only by the
    confirmation. Rows older than the confirmation period are purged, and
    ``forget`` deletes them by ``key_hash``. One row per confirmation mail,
    so the rows of the last day also count the mails sent to an address.
    """

    __tablename__ = "signup"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(sa_column_args=[sa.ForeignKey("mailing_list.id", ondelete="CASCADE")])
    email: str = Field(max_length=320)
    key_hash: str = Field(max_length=64, index=True)
    name: str | None = Field(default=None, max_length=400)
    language: str | None = Field(default=None, max_length=35)
    source: str = Field(max_length=32)  # form | undo | invite
    created_at: datetime = _when(index=True)
    timezone: str | None = Field(default=None, max_length=64)  # chosen on the form
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When its one reminder was queued: a sign-up is reminded at most once.
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # An invitation's reason, in the administrator's words, shown in its mail.
    reason: str | None = Field(default=None, max_length=400)


class SignupRequest(SQLModel, table=True):
    """A sign-up form post, kept until the server's outbox has decided it.

    The form's answer must cost the same for every address, so the request
    only stores what was typed (one insert, whoever it is) and the outbox
    decides later, off the request path: a :class:`Signup` and its queued
    confirmation mail, a welcome mail, or nothing. In the database, not in
    memory, so a sign-up survives a restart of the server. ``forget``
    deletes rows by ``key_hash``.
    """

    __tablename__ = "signup_request"

    id: int | None = Field(default=None, primary_key=True)
    list_slug: str = Field(max_length=64)
    email: str = Field(max_length=320)
    key_hash: str = Field(max_length=64, index=True)
    name: str | None = Field(default=None, max_length=400)
    language: str | None = Field(default=None, max_length=35)
    source: str = Field(max_length=32)  # form | undo
    created_at: datetime = _when()
    timezone: str | None = Field(default=None, max_length=64)


class Segment(SQLModel, table=True):
    """A named subscriber filter (``newsletter.subscribers.segments``), kept as its text.

    The expression is parsed again whenever it is used, so a segment always
    means what its text says with the data of the moment.
    """

    __tablename__ = "segment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    expression: str = Field(sa_type=sa.Text)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Meta(SQLModel, table=True):
    """Facts about the database itself, e.g. which secret key its hashes use."""

    __tablename__ = "newsletter_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str
