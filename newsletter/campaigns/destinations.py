"""Destinations: the mailbox providers behind recipient domains, and backing off one of them.

Big providers throttle per sender and answer ``421 4.7.0 … temporarily deferred`` (Microsoft,
``451 4.7.650``), ``421 4.7.0 [TSS04]`` (Yahoo) or ``421 4.7.28`` (Gmail) when we send too fast.
Retrying each message on its own keeps hammering the provider with the rest of the queue and
deepens the throttle; an MTA such as Postfix instead backs off the whole destination. We do the
same: the first throttling reply from a destination postpones every message to it (the
backoff doubles with each consecutive throttle, from ``throttle_backoff_seconds`` up to
``throttle_max_backoff_seconds``), one message probes when it ends, and the other destinations
go on at full speed. A throttled attempt does not count against ``max_attempts``: the provider
said "later", not "no".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.campaigns.tables import DestinationState

# Domain → provider, for the consumer domains whose mail one provider's servers take. A
# domain not listed is its own destination (a company's Google Workspace domain is throttled
# by Google under its own name too, so grouping it separately only costs a little speed).
PROVIDERS: dict[str, tuple[str, ...]] = {
    "google": ("gmail.com", "googlemail.com"),
    "microsoft": ("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.de",
                  "hotmail.de", "hotmail.co.uk", "hotmail.fr", "live.de", "live.fr"),
    "yahoo": ("yahoo.com", "yahoo.de", "yahoo.co.uk", "yahoo.fr", "ymail.com", "aol.com",
              "aol.de", "rocketmail.com"),
    "apple": ("icloud.com", "me.com", "mac.com"),
    "gmx": ("gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "web.de"),
    "t-online": ("t-online.de", "magenta.de"),
    "qq": ("qq.com", "foxmail.com", "vip.qq.com"),
    "netease": ("163.com", "126.com", "yeah.net", "vip.163.com", "188.com"),
    "sina": ("sina.com", "sina.cn", "vip.sina.com"),
    "aliyun": ("aliyun.com", "alibaba-inc.com"),
}  # fmt: skip
_BY_DOMAIN = {domain: name for name, domains in PROVIDERS.items() for domain in domains}
# A throttle is a policy deferral: enhanced status 4.7.x (rate, reputation, "temporarily
# deferred"), or a 4xx reply in rate words. Greylisting also answers 4.7.1 ("try again
# later") but is about one message's first attempt: it retries per message as before, or
# every message to a greylisting domain would wait a whole backoff. So does a relay's own
# "421 4.3.2 shutting down", which is not about any destination.
_THROTTLE_STATUS = re.compile(r"\b4\.7\.\d{1,3}\b")
_RATE_WORDS = re.compile(r"\brate\b|too many|throttl|temporarily deferred|TSS0\d", re.I)
_GREYLIST = re.compile(r"gr[ae]y\s*-?list", re.I)
DS = DestinationState.__table__  # type: ignore[attr-defined]


def destination_of(address: str) -> str:
    """The provider name for a known consumer domain, else the domain itself (lower-case)."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return _BY_DOMAIN.get(domain, domain)


def is_throttle(code: int | None, reply: str) -> bool:
    """Whether a temporary failure is the destination slowing us down, not this message."""
    if code is None or not 400 <= code < 500 or _GREYLIST.search(reply):
        return False
    return bool(_THROTTLE_STATUS.search(reply) or _RATE_WORDS.search(reply))


def backoff(level: int, base: float, cap: float) -> timedelta:
    """The wait after the ``level``-th consecutive throttle (1 = the first)."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, level - 1)))


@dataclass(frozen=True)
class State:
    level: int
    until: datetime | None


def load(conn: sa.Connection, campaign_id: int) -> dict[str, State]:
    """Every destination of the campaign that throttled and has not recovered since."""
    rows = conn.execute(
        sa.select(DS.c.destination, DS.c.level, DS.c.backoff_until).where(
            DS.c.campaign_id == campaign_id, DS.c.level > 0
        )
    )
    return {r.destination: State(r.level, r.backoff_until) for r in rows}


def throttled(
    conn: sa.Connection,
    campaign_id: int,
    replies: Iterable[tuple[str, str]],
    now: datetime,
    base: float,
    cap: float,
) -> dict[str, datetime]:
    """Record throttling replies ``(destination, reply)``; each destination's new backoff end.

    One batch's several replies from the same destination are one throttle: the level rises
    once per batch, not once per message that was already on its way.
    """
    counts: dict[str, int] = {}
    last: dict[str, str] = {}
    for destination, reply in replies:
        counts[destination] = counts.get(destination, 0) + 1
        last[destination] = reply
    until: dict[str, datetime] = {}
    for destination, n in counts.items():
        where = sa.and_(DS.c.campaign_id == campaign_id, DS.c.destination == destination)
        row = conn.execute(sa.select(DS.c.level, DS.c.deferrals).where(where)).first()
        level = (row.level if row else 0) + 1
        until[destination] = now + backoff(level, base, cap)
        values: dict[str, Any] = {
            "level": level,
            "backoff_until": until[destination],
            "last_reply": last[destination][:1000],
            "last_at": now,
        }
        if row is None:
            inserted = _insert_ignoring_conflict(conn, campaign_id, destination)
            if not inserted:
                row = conn.execute(sa.select(DS.c.level, DS.c.deferrals).where(where)).first()
        deferrals = (row.deferrals if row else 0) + n
        conn.execute(sa.update(DS).where(where).values(deferrals=deferrals, **values))
    return until


def _insert_ignoring_conflict(conn: sa.Connection, campaign_id: int, destination: str) -> bool:
    """Create the row unless another sender just did (both backends support ON CONFLICT)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(DS)
        .values(campaign_id=campaign_id, destination=destination, level=0, deferrals=0)
        .on_conflict_do_nothing()
    )
    return bool(conn.execute(stmt).rowcount)


def recovered(conn: sa.Connection, campaign_id: int, destinations: Iterable[str]) -> None:
    """A message to each of ``destinations`` was accepted: their backoff starts over."""
    names = sorted(set(destinations))
    if names:
        conn.execute(
            sa.update(DS)
            .where(DS.c.campaign_id == campaign_id, DS.c.destination.in_(names))
            .values(level=0, backoff_until=None)
        )
