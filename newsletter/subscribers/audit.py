"""The consent log: one row per change to a person's subscription or data.

Consent has to be provable (GDPR Art. 7(1)): for every subscription we keep
who caused it, when, and from where (``cli``, ``import:FILE:LINE``, ``web``,
``bounce``). ``detail`` names fields or notes, never personal values, so the
log can be kept after a person is forgotten once ``subject`` is cleared.
"""

from __future__ import annotations

import getpass
from functools import cache

from sqlmodel import Session

from newsletter.db import key_hash
from newsletter.db.columns import utcnow
from newsletter.subscribers.tables import ConsentEvent


@cache
def default_actor() -> str:
    """The operating-system user, which is who runs the CLI."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    session: Session,
    action: str,
    key: str,
    *,
    source: str,
    subscriber_id: int | None = None,
    list_slug: str | None = None,
    actor: str | None = None,
    detail: str | None = None,
) -> ConsentEvent:
    """Append one event; ``key`` is the address key of the person concerned."""
    event = ConsentEvent(
        at=utcnow(),
        actor=actor or default_actor(),
        action=action,
        subscriber_id=subscriber_id,
        list_slug=list_slug,
        subject=key,
        subject_hash=key_hash(session, key),
        source=source,
        detail=detail,
    )
    session.add(event)
    return event
