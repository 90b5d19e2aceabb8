"""What every response carries, what every request may weigh, and what the log may say.

Plain ASGI middleware (no per-request objects), because it wraps the
one-click endpoint whose throughput matters.

* Headers: a Content-Security-Policy without any script source, no
  referrer (a token in a URL must not travel to another site), no MIME
  sniffing, no framing. Token pages are ``no-store``; routes set that
  themselves through :data:`NO_STORE`.
* Bodies over ``limit`` bytes are refused with 413 before the app reads
  them: no form of ours needs more than a few hundred bytes.
* ``HEAD`` is answered as ``GET`` without the body, whatever the route:
  routes see only GET and POST, so a HEAD with a form body can never
  take a POST branch and change anything.
* The access log names the route (``/unsubscribe/{token}``), never the
  path: the path holds the token, and the query may hold an address.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("newsletter.web.access")

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# An issue's web version is the mail's HTML: inline styles (as every mail
# client needs them) and the editor's images, but still no script at all.
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_COMMON = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the headers above to every response; a route may set its own CSP first."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.common = list(_COMMON)
        if hsts:
            self.common.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in self.common if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Routes a HEAD request as GET and drops the body of its answer (RFC 9110 §9.3.2).

    Starlette routes HEAD to any route that allows GET, and a handler that
    tests ``method == "GET"`` then took the POST branch: a HEAD with a
    one-click body unsubscribed. Here the app never sees a HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        given = False

        async def no_request_body() -> Message:
            # The app reads an empty body; later calls wait for the disconnect (a
            # response that listens for it must not spin on empty bodies).
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": b"", "more_body": False}
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server keeps its own scope (method HEAD) and omits the body too.
        inner = dict(scope, method="GET")
        try:
            await self.app(inner, no_request_body, headers_only)
        finally:
            if "route" in inner:  # for the access log
                scope["route"] = inner["route"]


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, declared or streamed.

    ``refuse`` is the ASGI app that answers the 413 without reading the body (the
    web app's page in the reader's language); without it, one line of plain text.
    """

    def __init__(self, app: ASGIApp, *, limit: int, refuse: ASGIApp | None = None) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse or _too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self.refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self.refuse(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    body = b"Request body too large.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    """One line per request: method, route template, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                route = scope.get("route")
                path = getattr(route, "path", None) or "(no route)"
                access_log.info(
                    '"%s %s" %d %.1fms',
                    scope["method"],
                    path,
                    status,
                    (time.perf_counter() - started) * 1000,
                )
