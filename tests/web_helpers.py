"""Fixtures for the web tests: the real app on a real uvicorn on 127.0.0.1, and httpx.

The socket is bound first (port 0: the kernel picks a free one), so the
settings' ``base_url`` is the server's real address and every link the app
or the composer writes can be followed.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from delivery_helpers import World

from newsletter.config import Settings
from newsletter.tokens import token_key, unsubscribe_token
from newsletter.web.app import create_app
from newsletter.web.mailer import waiting


class LiveServer:
    """``newsletter.web`` served by uvicorn in a thread; ``url`` is its base URL."""

    def __init__(self, sock: socket.socket, settings: Settings, db: Any) -> None:
        self.sock = sock
        self.app = create_app(settings, db)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def outbox(self) -> Any:
        return self.app.state.web.outbox

    def drain(self, timeout: float = 15.0) -> None:
        """Wait until the outbox has decided every sign-up and finished every mail, as the
        database says (a deferred mail counts until its last attempt)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.outbox.db.engine.connect() as connection:
                if waiting(connection) == (0, 0):
                    return
            assert time.monotonic() < deadline, "outbox did not drain"
            time.sleep(0.02)


def bound_socket(port: int = 0) -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off only on sockets that
    # say so, and with Nagle on every keep-alive response waits 40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class WebWorld(World):
    """A ``World`` (database, list ``news``) whose base_url is a live server's."""

    def __init__(self, tmp: Path, database_url: str, **delivery: Any) -> None:
        self.sock = bound_socket()
        host, port = self.sock.getsockname()[:2]
        super().__init__(tmp, database_url, base_url=f"http://{host}:{port}", **delivery)
        self.live: LiveServer | None = None

    def serve(self, **web: Any) -> LiveServer:
        if web:
            self.settings = replace(self.settings, web=replace(self.settings.web, **web))
        self.live = LiveServer(self.sock, self.settings, self.db).start()
        return self.live

    def restart(self) -> LiveServer:
        """Stop the server and start a new one on the same address and database."""
        assert self.live is not None
        self.live.stop()  # closes its socket
        self.sock = bound_socket(int(self.url.rpartition(":")[2]))
        self.live = LiveServer(self.sock, self.settings, self.db).start()
        return self.live

    @property
    def url(self) -> str:
        """The server's base URL (known before it starts: the socket is bound)."""
        return self.settings.delivery.base_url

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kw)

    def token(self, subscriber_id: int, list_id: int | None = None) -> str:
        return unsubscribe_token(token_key(self.db.secret), subscriber_id, list_id or self.list_id)


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[WebWorld]:
    w = WebWorld(tmp_path, database_url)
    yield w
    if w.live is not None:
        w.live.stop()
    w.db.dispose()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    m = CSRF.search(page)
    assert m, "page has no CSRF field"
    return m.group(1)


def submit(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    """GET the form at ``path`` (which sets the CSRF cookie), then POST it with ``fields``."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf": csrf_of(page.text), **fields})
