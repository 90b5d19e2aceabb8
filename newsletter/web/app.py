"""The Starlette app behind ``newsletter serve``, and the checks before it may start.

Routes (each documented in docs/web.md):

=========================  ==============================================
``/unsubscribe/<token>``   GET asks, POST unsubscribes (page or RFC 8058)
``/unsubscribe/<t>/undo``  POST: subscribe again
``/unsubscribe``           how to leave without a token (the archive's link)
``/manage/<token>``        preferences: name, language, lists
``/manage``                how to get there without a token (the archive's link)
``/subscribe/<list>``      the sign-up form
``/confirm/<token>``       GET shows a button, POST confirms
``/archive/…``             index, one page per issue, feed, sitemap
``/static/style.css``      the theme's stylesheet
``/healthz``               "ok", for the proxy's health check
``/webhooks/{provider}``   POST: ses, postmark, generic bounce and complaint events
=========================  ==============================================
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.config import Settings
from newsletter.db import SECRET_ENV, Database
from newsletter.errors import ConfigError
from newsletter.inbound.ses import SnsVerifier
from newsletter.message.media import CACHE_CONTROL, MEDIA_DIR
from newsletter.message.public import MANAGE_PAGE, MANAGE_ROUTE, UNSUBSCRIBE_PAGE, UNSUBSCRIBE_ROUTE
from newsletter.tokens import token_key
from newsletter.web import webhooks
from newsletter.web.archive import TYPES, build_site, entries_from_database, pending_media
from newsletter.web.context import Web, turn_for, web_of
from newsletter.web.forms import Csrf
from newsletter.web.groupcommit import GroupCommit
from newsletter.web.links import manage, manage_general, undo, unsubscribe, unsubscribe_general
from newsletter.web.mailer import Outbox
from newsletter.web.pages import Pages
from newsletter.web.security import (
    ARCHIVE_CSP,
    PAGE_CSP,
    AccessLog,
    BodyLimit,
    HeadAsGet,
    SecurityHeaders,
)
from newsletter.web.signup import confirm, subscribe
from newsletter.web.welcome import load_welcomes

log = logging.getLogger("newsletter.web")
_HTML_LANG = re.compile(rb'<html[^>]*\slang="([A-Za-z0-9-]{2,35})"')
ARCHIVE_TTL = 10.0  # seconds an archive snapshot is served before the database is asked again


def check_serving(settings: Settings, db: Database) -> None:
    """Refuse to serve with a base URL subscribers cannot safely use, or without the key.

    ``base_url`` must be https (tokens travel in it), except on this machine
    for development. The secret key must already exist: it signed the links
    in every message sent, and a new one would make them all invalid.
    """
    url = urlsplit(settings.delivery.base_url)
    local = url.hostname in ("localhost", "127.0.0.1", "::1")
    if url.scheme != "https" and not (url.scheme == "http" and local):
        raise ConfigError(
            f"base_url must start with https:// (it is {settings.delivery.base_url!r}); "
            "only http://localhost or http://127.0.0.1 may be plain http, for development",
            file=str(settings.source) if settings.source else None,
        )
    from_env = os.environ.get(SECRET_ENV) or os.environ.get(f"{SECRET_ENV}_FILE")
    if not from_env and not db.key_file.exists():
        raise ConfigError(
            f"no secret key: set ${SECRET_ENV} or ${SECRET_ENV}_FILE, or keep "
            f"{db.key_file} (made when the database was first used) next to the database. "
            "The links in sent messages were signed with it"
        )


def create_app(settings: Settings, db: Database | None = None) -> Starlette:
    """The app for ``settings``; ``db`` defaults to the configured database."""
    db = db or Database.from_settings(settings)
    pages = Pages(settings)
    turn = turn_for(db)
    outbox = Outbox(db, settings, pages, load_welcomes(settings), turn=turn)
    https = settings.delivery.base_url.startswith("https://")
    unsubscribes = GroupCommit(db, turn)
    csrf = Csrf(token_key(db.secret), secure=https)
    web = Web(db, settings, pages, outbox, csrf, turn, unsubscribes)
    archive = _ArchiveCache()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        outbox.start()
        unsubscribes.start()
        try:
            yield
        finally:
            unsubscribes.stop()
            outbox.stop()

    async def archive_file(request: Request) -> Response:
        path = request.path_params.get("path", "")
        if path and not path.endswith("/") and "." not in path.rpartition("/")[2]:
            return RedirectResponse(f"{request.scope.get('root_path', '')}/archive/{path}/", 308)
        files = await archive.get(web)
        file = path + "index.html" if path == "" or path.endswith("/") else path
        data = files.get(file)
        if data is None:
            raise HTTPException(404)
        immutable = file.startswith(f"{MEDIA_DIR}/")  # named by content: never changes
        headers = {
            "Cache-Control": CACHE_CONTROL if immutable else "public, max-age=300",
            # The index is one of our pages (its stylesheet from 'self', nothing
            # inline); an issue's page is the mail's HTML, inline styles and all.
            "Content-Security-Policy": PAGE_CSP if file == "index.html" else ARCHIVE_CSP,
        }
        lang = _HTML_LANG.search(data[:2048]) if file.endswith(".html") else None
        if lang:  # the page's own lang attribute, so the header cannot disagree with it
            headers["Content-Language"] = lang[1].decode("ascii")
        return Response(data, media_type=TYPES[file[file.rindex(".") :]], headers=headers)

    async def stylesheet(request: Request) -> Response:
        return Response(
            pages.asset("style.css.j2"),
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    routes = [
        Route("/", _to_archive),
        Route("/healthz", health),
        Route("/static/style.css", stylesheet),
        # The message links' own patterns (newsletter.message.public), so a
        # composed link and its route cannot drift apart.
        Route(UNSUBSCRIBE_PAGE, unsubscribe_general),
        Route(UNSUBSCRIBE_ROUTE, unsubscribe, methods=["GET", "POST"]),
        Route(UNSUBSCRIBE_ROUTE + "/undo", undo, methods=["POST"]),
        Route(MANAGE_PAGE, manage_general),
        Route(MANAGE_ROUTE, manage, methods=["GET", "POST"]),
        Route("/subscribe/{list}", subscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route(
            "/archive", lambda r: RedirectResponse(f"{r.scope.get('root_path', '')}/archive/", 308)
        ),
        Route("/archive/{path:path}", archive_file),
        *webhooks.ROUTES,
    ]
    app = _App(
        https,
        routes=routes,
        middleware=[
            Middleware(BodyLimit, limit=settings.web.max_body_bytes, refuse=_too_large_page)
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.web = web
    app.state.sns_verifier = SnsVerifier()
    return app


class _App(Starlette):
    """Starlette with the access log, the security headers and HEAD-as-GET outside its layers.

    Starlette answers an exception (``_server_error``) in a layer outside every
    middleware it is given: inside it, the 500 page went out without the headers.
    """

    def __init__(self, hsts: bool, **kwargs: Any) -> None:
        self.hsts = hsts
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        inner = HeadAsGet(super().build_middleware_stack())
        return AccessLog(SecurityHeaders(inner, hsts=self.hsts))


async def _to_archive(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/archive/", 307)


class _ArchiveCache:
    """The archive's files, rebuilt from the database at most every ``ARCHIVE_TTL`` seconds."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.built = -ARCHIVE_TTL

    async def get(self, web: Web) -> dict[str, bytes]:
        if time.monotonic() - self.built >= ARCHIVE_TTL:
            entries = await web.db_call(entries_from_database)
            drafts = await web.db_call(pending_media, web.settings.delivery.base_url)
            self.files = {**drafts, **build_site(entries, web.pages)}
            self.built = time.monotonic()
        return self.files


_STATUS_TEXT = {
    400: "bad_request",
    404: "not_found",
    405: "wrong_method",  # a form's address opened as a page (from the history)
    413: "too_large",
    429: "too_many",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    web = web_of(request)
    lang = web.language(request)
    response = web.notice(
        request, lang, "error_title", _STATUS_TEXT.get(exc.status_code, "bad_request"),
        status=exc.status_code,
    )  # fmt: skip
    response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110 §15.5.6)
    return response


async def _too_large_page(scope: Scope, receive: Receive, send: Send) -> None:
    """The 413 page, in the reader's language, answered before the app reads the body.

    The unread body is left on the connection, so the answer closes it.
    """
    request = Request(scope)
    web = web_of(request)
    response = web.notice(request, web.language(request), "error_title", "too_large", status=413)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


async def _server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server log; the request's path (it may hold a
    # token) does not, and the page says nothing about what failed.
    log.error(
        "internal error on %s", getattr(request.scope.get("route"), "path", "?"), exc_info=exc
    )
    web = web_of(request)
    return web.notice(request, web.language(request), "error_title", "server_error", status=500)
