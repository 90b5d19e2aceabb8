"""``newsletter preview``: the issue on one local page, rebuilt whenever a source file changes.

The page shows the email at desktop width (600 px inside a wider window),
at phone width (375 px), in dark mode and as its plain-text part, side by
side. watchfiles watches the issue, ``newsletter.toml`` and the templates;
on a change the issue is rebuilt in a worker thread and every open page is
told over server-sent events to reload (a dozen lines of plain JavaScript,
no framework). A broken file shows its problems with ``file:line:col``
instead of the email, and the server keeps running until it is fixed.
When the server stops, the stream says ``stopping`` and ends (one Ctrl-C
stops the preview, whatever tabs are open: ``workbench.serving``), and the
page shows it is disconnected instead of reloading.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from newsletter.config import Settings, load_settings
from newsletter.errors import BadInput, NewsletterError, OperationFailed, Problem
from newsletter.issue.editions import load_issue_as_sent
from newsletter.message import media
from newsletter.render import Rendered, for_web, render_issue
from newsletter.render.html import Theme
from newsletter.themes import default_theme_dir

if TYPE_CHECKING:
    from newsletter.workbench.serving import Server, Stopping

KEEPALIVE_SECONDS = 15.0
# The preview page itself runs only /preview.js; the email frames run nothing.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; frame-src 'self'; "
    "connect-src 'self'"
)
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
FRAME_CSP = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; font-src * data:"
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_DARK_QUERY = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)


@dataclass
class Build:
    """One rebuild's result: the rendered issue, or the problems that stopped it."""

    version: int
    rendered: Rendered | None = None
    problems: list[Problem] = field(default_factory=list)


class Preview:
    """The issue being previewed and what to watch; ``rebuild`` is safe to call from any thread."""

    def __init__(self, issue: Path, settings: Settings) -> None:
        self.issue = issue
        self.config = settings.source
        self._settings = settings
        self._lock = threading.Lock()
        self.build = Build(0)
        self.rebuild()

    def rebuild(self) -> Build:
        with self._lock:
            version = self.build.version + 1
            try:
                settings = load_settings(self.config) if self.config else self._settings
                self._settings = settings
                # A fresh theme, so an edited template is read again.
                theme = Theme(settings.templates_dir)
                rendered = for_web(
                    render_issue(load_issue_as_sent(self.issue), settings, theme=theme), settings
                )
                # The issue's own images, not published yet, are shown from its files.
                files = [i.file for i in rendered.images]
                self.build = Build(
                    version, replace(rendered, html=media.embed(rendered.html, files))
                )
            except NewsletterError as exc:
                problems = getattr(exc, "problems", None) or [Problem(str(exc))]
                self.build = Build(version, None, list(problems))
            return self.build

    def watched(self) -> list[Path]:
        """Folders to watch: the issue's, the config's and every template folder."""
        folders = {self.issue.resolve().parent, default_theme_dir()}
        if self.config:
            folders.add(self.config.parent)
        if self._settings.templates_dir and self._settings.templates_dir.is_dir():
            folders.add(self._settings.templates_dir.resolve())
        return sorted(folders)

    def is_source(self, changed: Path) -> bool:
        """Does a change to ``changed`` alter the preview?"""
        issue = self.issue.resolve()
        if changed == issue or (changed.parent == issue.parent and changed.suffix == ".yaml"):
            return changed.name.split(".")[0] == issue.name.split(".")[0]
        if self.config and changed == self.config:
            return True
        if changed.suffix.lower() in _IMAGE_SUFFIXES and changed.is_relative_to(issue.parent):
            return True  # perhaps one of the issue's images
        template_dirs = [default_theme_dir(), self._settings.templates_dir]
        return any(d and changed.is_relative_to(d.resolve()) for d in template_dirs)


def create_app(
    preview: Preview, *, debounce_ms: int = 300, stopping: Stopping | None = None
) -> Starlette:
    """The preview as an ASGI app; the watcher runs for the app's lifetime.

    ``stopping`` is the server's (:func:`preview_server`): when it is set,
    every event stream ends, so the server's graceful shutdown can finish.
    """
    from newsletter.workbench.serving import Stopping

    changed = asyncio.Condition()
    stop = stopping or Stopping()

    async def watch() -> None:
        from watchfiles import awatch

        async for changes in awatch(*preview.watched(), debounce=debounce_ms, step=50):
            if any(preview.is_source(Path(p).resolve()) for _, p in changes):
                await asyncio.to_thread(preview.rebuild)
                async with changed:
                    changed.notify_all()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(watch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def page(request: Request) -> Response:
        return HTMLResponse(
            _page(preview), headers={**HEADERS, "Content-Security-Policy": PAGE_CSP}
        )

    async def frame(request: Request) -> Response:
        build = preview.build
        if build.rendered is None:
            return PlainTextResponse("not built", status_code=503, headers=HEADERS)
        body = build.rendered.html
        if request.path_params["mode"] == "dark":
            body = _DARK_QUERY.sub("@media all", body)
        body = body.replace("<head>", '<head><base target="_blank">', 1)
        return HTMLResponse(body, headers={**HEADERS, "Content-Security-Policy": FRAME_CSP})

    async def newer_than(seen: int) -> None:
        async with changed:
            await changed.wait_for(lambda: preview.build.version != seen)

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            seen = preview.build.version
            yield f"event: version\ndata: {seen}\n\n"
            while not await request.is_disconnected():
                waits = [asyncio.ensure_future(w) for w in (newer_than(seen), stop.wait())]
                try:
                    await asyncio.wait(
                        waits, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waits:
                        w.cancel()
                if stop.is_set:
                    yield "event: stopping\ndata: bye\n\n"
                    return
                if preview.build.version != seen:
                    seen = preview.build.version
                    yield f"event: version\ndata: {seen}\n\n"
                else:
                    yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**HEADERS, "Cache-Control": "no-store"},
        )

    async def script(request: Request) -> Response:
        return Response(RELOAD_JS, media_type="text/javascript", headers=HEADERS)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/frame/{mode:str}", frame),
            Route("/events", events),
            Route("/preview.js", script),
        ],
        lifespan=lifespan,
    )


# Reload when the build this page shows is no longer the newest one; say so when the
# server stops or cannot be reached (EventSource retries by itself; no reload loop).
RELOAD_JS = """\
"use strict";
const shown = document.body.dataset.version;
const status = document.getElementById("status");
const events = new EventSource("/events");
const say = (text) => { status.textContent = text; status.hidden = !text; };
events.addEventListener("version", (e) => {
  if (e.data !== shown) location.reload(); else say("");
});
events.addEventListener("stopping", () => {
  events.close();
  say("Disconnected: the preview server stopped. Start it again and reload this page.");
});
events.addEventListener("error", () => {
  if (events.readyState !== EventSource.CLOSED) say("Disconnected: reconnecting…");
});
"""

_STYLE = """
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #e9ecef; color: #212529; }
header { padding: 8px 16px; background: #212529; color: #f8f9fa; }
header small { color: #adb5bd; margin-left: 8px; }
main { display: flex; gap: 16px; padding: 16px; align-items: flex-start; overflow-x: auto; }
figure { margin: 0; flex: none; }
figcaption { font-weight: 600; margin: 0 0 6px; }
iframe { border: 1px solid #adb5bd; background: #fff; height: calc(100vh - 120px); }
.desktop iframe, .dark iframe { width: 700px; }
.phone iframe { width: 375px; }
pre { width: 80ch; margin: 0; padding: 12px; background: #fff; border: 1px solid #adb5bd;
      height: calc(100vh - 144px); overflow: auto; white-space: pre-wrap; font-size: 13px; }
.problems { margin: 24px; padding: 16px 24px; background: #fff3f3; border: 1px solid #e03131; }
.problems code { font-weight: 600; }
#status { margin: 0; padding: 8px 16px; background: #fff3bf; color: #212529; font-weight: 600; }
"""


def _page(preview: Preview) -> str:
    build = preview.build
    esc = html.escape
    name = esc(str(preview.issue))
    if build.rendered is None:
        items = "".join(
            f"<li><code>{esc(_where(p))}</code> {esc(p.message)}</li>" for p in build.problems
        )
        body = (
            f'<section class="problems"><h2>{len(build.problems)} problem(s) in {name}</h2>'
            f"<ol>{items}</ol><p>Fix and save: this page reloads by itself.</p></section>"
        )
        title = f"Problems: {name}"
    else:
        r = build.rendered
        sandbox = 'sandbox="allow-popups allow-popups-to-escape-sandbox"'
        body = (
            "<main>"
            f'<figure class="desktop"><figcaption>Desktop (600 px)</figcaption>'
            f'<iframe src="/frame/light" title="Desktop" {sandbox}></iframe></figure>'
            f'<figure class="phone"><figcaption>Phone (375 px)</figcaption>'
            f'<iframe src="/frame/light" title="Phone" {sandbox}></iframe></figure>'
            f'<figure class="dark"><figcaption>Dark mode (Apple Mail)</figcaption>'
            f'<iframe src="/frame/dark" title="Dark mode" {sandbox}></iframe></figure>'
            f"<figure><figcaption>Plain text</figcaption><pre>{esc(r.text)}</pre></figure>"
            "</main>"
        )
        title = esc(r.subject)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style>"
        '<script src="/preview.js" defer></script></head>'
        f'<body data-version="{build.version}"><header><strong>{title}</strong>'
        f"<small>{name} · reloads when the issue, a template or newsletter.toml changes"
        f'</small></header><p id="status" role="status" hidden></p>{body}</body></html>'
    )


def _where(p: Problem) -> str:
    where = ":".join(str(x) for x in (p.file, p.line, p.column) if x is not None)
    return where or (p.field or "")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, opened before the server starts so a busy port is one clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInput(f"--host {host}: {exc.strerror}") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OperationFailed(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from exc
    sock.listen(64)
    return sock


def preview_server(issue: Path, settings: Settings, *, debounce_ms: int = 300) -> Server:
    """A uvicorn server for the preview: ``.run(sockets=[bind(host, port)])`` serves it."""
    import uvicorn

    from newsletter.workbench.serving import GRACE_SECONDS, Server, Stopping

    stopping = Stopping()
    app = create_app(Preview(issue, settings), debounce_ms=debounce_ms, stopping=stopping)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACE_SECONDS
    )
    return Server(config, stopping)
