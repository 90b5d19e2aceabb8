"""The server's outbox: sign-ups decided and their mails sent off the request path, durably.

The sign-up form must answer a new, an existing, an unsubscribed and a
suppressed address alike, in the same time. So a request only stores the
post (:func:`newsletter.subscribers.optin.add_request`, one insert for
anyone) and wakes this outbox. Its one thread, where durations tell nobody
anything, then

1. decides each stored post: in one transaction the post is deleted, the
   sign-up recorded and its confirmation mail (or a single opt-in list's
   welcome mail) written ``queued`` to the delivery log, so a post is
   decided and its mail queued together or not at all;
2. sends the queued mails (:mod:`newsletter.campaigns.notices`), and
   retries the ones a server deferred later, with a growing wait, up to
   ``[web] mail_attempts``.

Everything waits in the database, not in memory: a server stopped with
posts or mails waiting sends them when it starts again, and several
servers on one database share the work (claims are conditional updates).
A confirmation click queues the welcome mail in its own transaction
(:meth:`Outbox.confirm`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.campaigns import notices
from newsletter.campaigns.tables import Delivery, DeliveryKind, DeliveryStatus
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.db.columns import utcnow
from newsletter.errors import NewsletterError
from newsletter.message.compose import envelope_address
from newsletter.message.dkim import signer_from_settings
from newsletter.ratelimit import RateLimiter
from newsletter.render.html import Theme
from newsletter.render.mails import check_theme
from newsletter.subscribers.optin import (
    Decision,
    Pending,
    confirm_signup,
    purge_signups,
    request_signup,
    waiting_requests,
)
from newsletter.subscribers.tables import SignupRequest
from newsletter.tokens import token_key
from newsletter.transports import Transport, open_transport
from newsletter.transports.base import FAILED, Outcome
from newsletter.web import mails
from newsletter.web.pages import Pages
from newsletter.web.welcome import Welcome

log = logging.getLogger("newsletter.web")
POLL_SECONDS = 5.0  # a look at the database for work another process left
HOUSEKEEPING_SECONDS = 600.0  # purge expired sign-ups, recover mails a dead server left


class Outbox:
    """One worker thread that decides sign-ups and sends confirmation and welcome mails."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        pages: Pages,
        welcomes: dict[str, Welcome],
        transport: Callable[[], Transport] | None = None,
        turn: contextlib.AbstractContextManager[Any] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pages = pages
        self.welcomes = welcomes
        if transport is None:
            # Made once, when `serve` starts: a bad [smtp] (no password, an EHLO name a
            # remote relay cannot look up) stops the server with its message instead of
            # failing every mail in this thread. The transport holds only settings.
            made = open_transport(settings)
            transport = lambda: made  # noqa: E731
        self.transport = transport
        # On SQLite the web's transactions take turns on one lock (Web.db_call);
        # ours join the line rather than make a request wait on SQLite's busy loop.
        self.turn = turn or contextlib.nullcontext()
        self.key = token_key(db.secret)
        self.sign = signer_from_settings(settings)
        # The mails come from the organisation's theme, as an issue does.
        self.theme = Theme(settings.templates_dir)
        check_theme(self.theme)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="newsletter-outbox", daemon=True)
        self._housekept = -HOUSEKEEPING_SECONDS

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the mail being sent and stop; what waits stays queued for the next start."""
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout)
        with contextlib.suppress(Exception), self.db.engine.connect() as connection:
            posts, mails = waiting(connection)
            if posts or mails:
                log.info("stopped; %d sign-up(s) and %d mail(s) wait for the next start",
                         posts, mails)  # fmt: skip

    def notify(self) -> None:
        """Something was stored for the outbox: look now rather than at the next poll."""
        self.wake.set()

    def confirm(
        self, session: Session, signup_id: int, *, max_age: timedelta
    ) -> tuple[Pending, int | None]:
        """Confirm a sign-up and queue the list's welcome mail in the same transaction."""
        pending, new_subscriber = confirm_signup(session, signup_id, max_age=max_age)
        if new_subscriber is not None:
            assert pending.mailing_list.id is not None
            self._queue_welcome(session, new_subscriber, pending.mailing_list.id,
                                pending.mailing_list.slug, pending.signup.email)  # fmt: skip
        return pending, new_subscriber

    def send_now(self, on_sent: Callable[[str, str], None] | None = None) -> int:
        """Send every due notice in the caller's thread, at ``[delivery]``'s rate; how many.

        For commands that queue mails and then deliver them themselves
        (``subscribers invite``, ``subscribers expire``, ``worker``): the same
        claims as the thread's, so a ``serve`` running meanwhile shares the
        work and nothing goes twice. ``on_sent`` gets each address and status.
        """
        d = self.settings.delivery
        pace = RateLimiter(d.rate_per_second, d.rate_per_minute, d.rate_per_hour)
        count = 0
        while True:
            wait = pace.delay(time.time())
            if wait > 0:
                time.sleep(wait)
            with self.turn, self.db.engine.begin() as connection:
                claimed = notices.claim_due(connection)
            if claimed is None:
                return count
            pace.record(time.time())
            status = self._send(claimed)
            count += 1
            if on_sent is not None:
                on_sent(claimed.address or "(forgotten)", status)

    # -- the thread ---------------------------------------------------------

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                busy = self._work()
            except Exception:
                # A database that is away or locked: everything is still
                # stored, so the next round tries again.
                log.exception("outbox round failed; retrying in %.0f s", POLL_SECONDS)
                busy = False
            if not busy:
                self.wake.wait(self._idle_seconds())

    def _work(self) -> bool:
        if time.monotonic() - self._housekept >= HOUSEKEEPING_SECONDS:
            self._housekeeping()
        decided = self._decide_waiting()
        sent = self._send_due()
        return decided or sent

    def _idle_seconds(self) -> float:
        """Until the next deferred mail is due, or the next poll, whichever is sooner."""
        with self.turn, self.db.engine.connect() as connection:
            due = notices.next_due(connection)
        if due is None:
            return POLL_SECONDS
        return min(POLL_SECONDS, max(0.0, (due - utcnow()).total_seconds()))

    def _housekeeping(self) -> None:
        self._housekept = time.monotonic()
        # Longer than any attempt takes: connecting, and the reply to the data.
        stale = timedelta(seconds=max(120.0, 4 * self.settings.smtp.timeout))
        with self.turn, self.db.engine.begin() as connection:
            lost = notices.recover_stale(connection, older_than=stale)
        if lost:
            log.warning("%d mail(s) were being sent when a server stopped: logged unknown", lost)
        with self.turn, self.db.session() as s:
            purge_signups(s, older_than=timedelta(days=self.settings.web.confirm_days))

    # -- deciding the sign-up posts -----------------------------------------

    def _decide_waiting(self) -> bool:
        with self.turn, self.db.session() as s:
            ids = [r.id for r in waiting_requests(s)]
        for request_id in ids:
            if self.stopping.is_set():
                break
            self._decide(request_id)
        return bool(ids)

    def _decide(self, request_id: int | None) -> None:
        try:
            with self.turn, self.db.session() as s:
                post = s.get(SignupRequest, request_id)
                if post is None:
                    return  # another server took it
                gone = s.execute(sa.delete(SignupRequest).where(SignupRequest.id == request_id))  # type: ignore[arg-type]
                if gone.rowcount != 1:  # type: ignore[attr-defined]
                    return
                self._decide_post(s, post)
        except NewsletterError as exc:
            # Input the request could not check (an over-long name, a list
            # deleted since): the post is dropped; the log names the field,
            # never the address.
            log.info("sign-up not taken: %s", exc)
            self._drop(request_id)
        except sa.exc.OperationalError:
            raise  # the database, not the post: try again next round
        except Exception:
            log.exception("a sign-up could not be decided and was dropped")
            self._drop(request_id)

    def _drop(self, request_id: int | None) -> None:
        with self.turn, self.db.session() as s:
            s.execute(sa.delete(SignupRequest).where(SignupRequest.id == request_id))  # type: ignore[arg-type]

    def _decide_post(self, s: Session, post: SignupRequest) -> None:
        plan = request_signup(
            s,
            post.list_slug,
            post.email,
            name=post.name,
            language=post.language,
            per_day=self.settings.web.confirmations_per_address_per_day,
            source=post.source,
            timezone=post.timezone,
        )
        if plan.decision == Decision.SUBSCRIBED:
            assert plan.subscriber_id is not None and plan.list_id is not None
            self._queue_welcome(s, plan.subscriber_id, plan.list_id, post.list_slug, post.email)
        elif plan.decision == Decision.CONFIRM:
            assert plan.signup is not None and plan.signup.id is not None
            notices.queue_notice(
                s, self.settings, DeliveryKind.CONFIRMATION, plan.signup.email,
                signup_id=plan.signup.id,
            )  # fmt: skip

    def _queue_welcome(
        self, s: Session, subscriber_id: int, list_id: int, slug: str, address: str
    ) -> None:
        if slug in self.welcomes:
            notices.queue_notice(
                s, self.settings, DeliveryKind.WELCOME, address,
                subscriber_id=subscriber_id, list_id=list_id,
            )  # fmt: skip

    # -- sending ------------------------------------------------------------

    def _send_due(self) -> bool:
        sent = False
        while not self.stopping.is_set():
            with self.turn, self.db.engine.begin() as connection:
                claimed = notices.claim_due(connection)
            if claimed is None:
                break
            sent = True
            self._send(claimed)
        return sent

    def _send(self, claimed: notices.Claimed) -> str:
        web = self.settings.web
        outgoing: mails.Outgoing | str | None
        try:
            # Composing only reads, and outside the web's turn: a request
            # must not wait while a mail is rendered (its time would tell that
            # a sign-up made a mail). SQLite's WAL lets a reader run beside the
            # writers without taking their lock.
            with self.db.session() as s:
                if claimed.kind == DeliveryKind.CONFIRMATION.value:
                    outgoing = mails.confirmation(s, claimed, self.settings, self.pages, self.key)
                elif claimed.kind in (DeliveryKind.INVITATION.value, DeliveryKind.REMINDER.value):
                    outgoing = mails.invitation(s, claimed, self.settings, self.pages, self.key)
                else:
                    outgoing = mails.welcome(s, claimed, self.pages, self.key, self.welcomes)
        except Exception:
            log.exception("a %s mail could not be composed", claimed.kind)
            outgoing = None
        if isinstance(outgoing, str):
            with self.turn, self.db.engine.begin() as connection:
                notices.skip(connection, claimed, outgoing)
            return "skipped"
        data = None if outgoing is None else self._compose(claimed, outgoing)
        if outgoing is None or data is None:
            outcome = Outcome(FAILED, None, "could not be composed; see the server's log")
        else:
            outcome = notices.deliver(
                self.transport(),
                self.settings.organisation.sender_email,
                envelope_address(outgoing.address),
                data,
            )
        with self.turn, self.db.engine.begin() as connection:
            return notices.record(
                connection, claimed, outcome,
                max_attempts=web.mail_attempts, retry_seconds=web.mail_retry_seconds,
            )  # fmt: skip

    def _compose(self, claimed: notices.Claimed, outgoing: mails.Outgoing) -> bytes | None:
        """The bytes, rendered outside the database's turn (MJML and inlining take a while)."""
        try:
            return mails.compose(
                outgoing, self.settings, self.theme, claimed.message_id, sign=self.sign
            )
        except Exception:
            log.exception("a %s mail could not be composed", claimed.kind)
            return None


def waiting(connection: sa.Connection) -> tuple[int, int]:
    """Sign-up posts not decided yet, and confirmation or welcome mails not finished."""
    d = Delivery.__table__.c  # type: ignore[attr-defined]
    posts = connection.execute(
        sa.select(sa.func.count()).select_from(SignupRequest.__table__)  # type: ignore[attr-defined]
    ).scalar_one()
    mails = connection.execute(
        sa.select(sa.func.count()).where(
            d.campaign_id.is_(None),
            d.kind.in_(notices.KINDS),
            d.status.in_((*notices.WAITING, DeliveryStatus.SENDING.value)),
        )
    ).scalar_one()
    return posts, mails
