"""What every route needs: the database, the settings, the pages, and how to answer.

One :class:`Web` per app, reachable from a request as
``request.app.state.web``; routes stay plain functions of a request.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from newsletter.config import Settings
from newsletter.db import Database
from newsletter.ratelimit import KeyedLimiter
from newsletter.web.forms import Csrf
from newsletter.web.groupcommit import GroupCommit
from newsletter.web.mailer import Outbox
from newsletter.web.pages import Pages, web_strings
from newsletter.web.security import NO_STORE

T = TypeVar("T")


class Web:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        pages: Pages,
        outbox: Outbox,
        csrf: Csrf,
        turn: contextlib.AbstractContextManager[Any],
        unsubscribes: GroupCommit,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pages = pages
        self.outbox = outbox
        self.csrf = csrf
        self.signup_limit = KeyedLimiter(settings.web.signups_per_client_per_hour, 3600.0)
        self._turn = turn
        self.unsubscribes = unsubscribes

    async def db_call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func(session, …)`` in one committed transaction, off the event loop.

        On SQLite the transactions of this process (the outbox's too) take
        turns on a lock of our own (:func:`turn_for`): SQLite lets one writer
        in at a time and makes the others sleep and retry (1, 2, 5 … 100 ms),
        which under load costs far more than waiting in line.
        """

        def work() -> T:
            with self._turn, self.db.session() as s:
                return func(s, *args, **kwargs)

        return await run_in_threadpool(work)

    def language(self, request: Request, *candidates: str | None) -> str:
        return self.pages.language(*candidates, accept=request.headers.get("accept-language"))

    def page(
        self,
        request: Request,
        name: str,
        language: str,
        /,
        *,
        status: int = 200,
        token_page: bool = False,
        form: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        """A rendered page; ``form`` adds the CSRF field and cookie, ``token_page`` no-store."""
        nonce = None
        if form:
            nonce, context["csrf"] = self.csrf.issue(request)
        html = self.pages.render(
            name, language, static=f"{request.scope.get('root_path', '')}/static/", **context
        )
        headers = dict(NO_STORE) if token_page or form else {}
        headers["Content-Language"] = language
        response = HTMLResponse(html, status_code=status, headers=headers)
        if nonce is not None:
            self.csrf.set_cookie(response, nonce)
        return response

    def notice(
        self, request: Request, language: str, title: str, text: str, *, status: int = 200
    ) -> HTMLResponse:
        t = web_strings(language)
        return self.page(
            request, "notice.html.j2", language, status=status, token_page=True,
            title=t[title], text=t[text],
        )  # fmt: skip

    def invalid_link(self, request: Request) -> HTMLResponse:
        """The one answer to every token that does not resolve: it names nothing."""
        lang = self.language(request)
        return self.notice(request, lang, "invalid_title", "invalid_text", status=400)

    def form_expired(self, request: Request, language: str) -> HTMLResponse:
        return self.notice(request, language, "error_title", "form_expired", status=403)

    def client_allowed(self, request: Request) -> bool:
        """The per-client limit of sign-up posts (the client as the proxy headers tell it)."""
        return self.signup_limit.hit(_client(request), time.monotonic())

    def too_many(self, request: Request, language: str) -> HTMLResponse:
        """429, with when the client may post again (RFC 6585), rounded up to a second."""
        response = self.notice(request, language, "error_title", "too_many", status=429)
        wait = self.signup_limit.wait(_client(request), time.monotonic())
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def turn_for(db: Database) -> contextlib.AbstractContextManager[Any]:
    """The line this process's transactions wait in: a lock on SQLite, none on PostgreSQL."""
    return threading.Lock() if db.is_sqlite else contextlib.nullcontext()


def web_of(request: Request) -> Web:
    return request.app.state.web


def plain(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="text/plain", headers=dict(NO_STORE))
