"""Sign-ups are decided and mailed off the request path, one at a time.

The sign-up form must answer a new, an existing, an unsubscribed and a
suppressed address alike, in the same time. So the request only checks the
input's shape and hands the sign-up to this outbox; the database look-ups,
the per-address limit and the confirmation mail happen here, in one worker
thread, where their duration tells nobody anything. Welcome mails after a
confirmation take the same path.

A sign-up still queued when the server stops is lost (the person can ask
again; the log line says how many); a mail that was attempted is in the
delivery log whatever happened.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr

import yaml

from newsletter.campaigns.notices import send_notice
from newsletter.campaigns.tables import DeliveryKind
from newsletter.config import Settings
from newsletter.db import Database
from newsletter.errors import BadInput, NewsletterError, Problem
from newsletter.message.compose import sender_domain
from newsletter.message.notice import Notice
from newsletter.message.public import manage_url, unsubscribe_url
from newsletter.subscribers.optin import Decision, purge_signups, request_signup
from newsletter.subscribers.tables import MailingList, Subscriber
from newsletter.tokens import confirm_token, token_key, unsubscribe_token
from newsletter.transports import Transport, open_transport
from newsletter.web.archive import latest_url
from newsletter.web.pages import Pages, web_strings

log = logging.getLogger("newsletter.web")
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class SignupJob:
    list_slug: str
    email: str
    name: str | None
    language: str | None
    source: str = "form"  # form | undo


@dataclass(frozen=True)
class WelcomeJob:
    subscriber_id: int
    list_id: int


@dataclass(frozen=True)
class Welcome:
    """``welcome/<list>.yaml``: what a new subscriber of that list is sent."""

    subject: str
    paragraphs: tuple[str, ...]
    latest_issue: bool = True


def load_welcomes(settings: Settings) -> dict[str, Welcome]:
    """Every list's welcome mail from ``[web] welcome_dir``; problems name file and key."""
    folder = settings.path(settings.web.welcome_dir)
    welcomes: dict[str, Welcome] = {}
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(f"cannot read: {exc}", file=str(path)))
            continue
        welcome = _welcome(data, str(path), problems)
        if welcome is not None:
            welcomes[path.stem] = welcome
    if problems:
        raise BadInput(problems)
    return welcomes


def _welcome(data: object, file: str, problems: list[Problem]) -> Welcome | None:
    if not isinstance(data, dict):
        problems.append(Problem("must be a mapping with subject and paragraphs", file=file))
        return None
    before = len(problems)
    for key in sorted(set(data) - {"subject", "paragraphs", "latest_issue"}):
        problems.append(Problem(f"unknown key {key!r}", file=file, field=str(key)))
    subject, paragraphs = data.get("subject"), data.get("paragraphs", [])
    if not isinstance(subject, str) or not subject.strip():
        problems.append(Problem("must be text", file=file, field="subject"))
    if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
        problems.append(Problem("must be a list of text", file=file, field="paragraphs"))
    if not isinstance(data.get("latest_issue", True), bool):
        problems.append(Problem("must be true or false", file=file, field="latest_issue"))
    if len(problems) > before:
        return None
    return Welcome(subject.strip(), tuple(paragraphs), data.get("latest_issue", True))  # type: ignore[union-attr]


class Outbox:
    """One worker thread that handles sign-ups and welcome mails in order."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        pages: Pages,
        welcomes: dict[str, Welcome],
        transport: Callable[[], Transport] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pages = pages
        self.welcomes = welcomes
        self.transport = transport or (lambda: open_transport(settings))
        self.key = token_key(db.secret)
        self.jobs: queue.Queue[SignupJob | WelcomeJob | None] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._run, name="newsletter-outbox", daemon=True)
        self.handled = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.jobs.put(None)
        self.thread.join(timeout)
        left = self.jobs.qsize()
        if left:
            log.warning("stopped with %d sign-up or welcome mail(s) not handled", left)

    def submit(self, job: SignupJob | WelcomeJob) -> None:
        """Queue a job; when the queue is full the job is dropped and logged (load shedding)."""
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            log.warning("outbox full: a %s was dropped", type(job).__name__)

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                if isinstance(job, SignupJob):
                    self._signup(job)
                else:
                    self._welcome(job)
            except NewsletterError as exc:
                # Input the request could not check (say an over-long name)
                # ends here; the message names a field, never the address.
                log.info("sign-up not taken: %s", type(exc).__name__)
            except Exception:
                log.exception("outbox job failed")
            finally:
                self.handled += 1
                if self.handled % 100 == 1:
                    self._purge()
                self.jobs.task_done()

    def _purge(self) -> None:
        with self.db.session() as s:
            purge_signups(s, older_than=timedelta(days=self.settings.web.confirm_days))

    def _signup(self, job: SignupJob) -> None:
        with self.db.session() as s:
            plan = request_signup(
                s,
                job.list_slug,
                job.email,
                name=job.name,
                language=job.language,
                per_day=self.settings.web.confirmations_per_address_per_day,
                source=job.source,
            )
            if plan.decision == Decision.NOTHING:
                return
            ml = s.get(MailingList, plan.list_id)
            assert ml is not None
            if plan.decision == Decision.SUBSCRIBED:
                assert plan.subscriber_id is not None and ml.id is not None
                self.submit(WelcomeJob(plan.subscriber_id, ml.id))
                return
            signup = plan.signup
            assert signup is not None and signup.id is not None
            lang = self.pages.language(signup.language, ml.language)
            address = signup.email
            token = confirm_token(self.key, signup.id)
        t = web_strings(lang)
        subject = t["confirm_mail_subject"].format(list=ml.name)
        context = {
            "subject": subject,
            "list_name": ml.name,
            "confirm_url": f"{self.pages.base_url}/confirm/{token}",
            "days": self.settings.web.confirm_days,
        }
        notice = Notice(
            subject,
            self.pages.render("mail/confirm.txt.j2", lang, **context),
            self.pages.render("mail/confirm.html.j2", lang, **context),
            lang,
        )
        send_notice(
            self.db, self.settings, self.transport(), DeliveryKind.CONFIRMATION, notice, address
        )

    def _welcome(self, job: WelcomeJob) -> None:
        with self.db.session() as s:
            ml = s.get(MailingList, job.list_id)
            sub = s.get(Subscriber, job.subscriber_id)
            welcome = self.welcomes.get(ml.slug) if ml is not None else None
            if ml is None or sub is None or welcome is None:
                return
            latest = latest_url(s, self.pages.base_url) if welcome.latest_issue else None
        lang = self.pages.language(sub.language, ml.language)
        token = unsubscribe_token(self.key, job.subscriber_id, job.list_id)
        context = {
            "subject": welcome.subject,
            "name": sub.name,
            "paragraphs": welcome.paragraphs,
            "latest_url": latest,
            "unsubscribe_url": unsubscribe_url(self.pages.base_url, token),
            "manage_url": manage_url(self.pages.base_url, token),
        }
        notice = Notice(
            welcome.subject,
            self.pages.render("mail/welcome.txt.j2", lang, **context),
            self.pages.render("mail/welcome.html.j2", lang, **context),
            lang,
            unsubscribe_url=context["unsubscribe_url"],
            list_id=formataddr((ml.name, f"{ml.slug}.{sender_domain(self.settings)}")),
        )
        send_notice(
            self.db,
            self.settings,
            self.transport(),
            DeliveryKind.WELCOME,
            notice,
            sub.email,
            subscriber_id=sub.id,
        )
