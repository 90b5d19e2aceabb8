"""uvicorn for ``preview`` and ``serve``: one Ctrl-C or SIGTERM stops the process, status 0.

uvicorn's graceful shutdown waits for every response to finish, and a
response that never ends by itself (the preview's event stream, open in
every editor's tab) kept the process running after the first signal. Such a
response also waits on :class:`Stopping` and returns once it is set, which
:class:`Server` does as its shutdown begins; ``timeout_graceful_shutdown``
is the backstop for any response that does not.

A stop by signal is these commands' normal end, so it ends them with status
0: uvicorn raises the caught signal again after stopping, which ended
SIGTERM with -15 and SIGINT with click's "Aborted!" and status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

GRACE_SECONDS = 1  # what a response still running at shutdown gets before it is cancelled


class Stopping:
    """Set once when the server begins to stop; long-lived responses ``await wait()``.

    Invariant: ``set`` and ``wait`` run on the server's event loop (the
    shutdown is a coroutine there), so a plain ``asyncio.Event`` is enough.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.is_set = False

    def _get(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
            if self.is_set:
                self._event.set()
        return self._event

    def set(self) -> None:
        self.is_set = True
        self._get().set()

    async def wait(self) -> None:
        await self._get().wait()


class Server(uvicorn.Server):
    """uvicorn's server that tells :class:`Stopping` first and does not re-raise the signal."""

    def __init__(self, config: uvicorn.Config, stopping: Stopping) -> None:
        super().__init__(config)
        self.stopping = stopping

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        self.stopping.set()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own, less the signals raised again on the way out
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
