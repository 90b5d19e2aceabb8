"""The connection threads of one run, and all they share with the dispatcher.

One thread per transport connection takes composed messages from the ready queue, sends
them, and hands back each (job, outcome) pair; before a message's body it asks the
dispatcher to commit that the body begins (a :class:`Mark`) and waits for the answer. This
is the only state the threads and the dispatcher (:mod:`newsletter.campaigns.dispatch`)
share: the ready queue, the outcomes, the marks, one wake-up event and the two stop events.
Counting what goes in and comes out here is what lets the dispatcher check its rule.

A connection whose server is late with a reply (``slow_reply_seconds`` of the transport, well
under its timeout) stops holding work: the dispatcher's :meth:`Connections.watch` marks it
stalled and puts the message announced behind its message (SMTP pipelining: envelope sent, no
body) back in the ready queue for the other connections, and when every connection is stalled
it opens a spare one, up to ``spare_connections`` beyond the pool. The stalled message itself
stays where it is: its reply, or the timeout, decides its outcome as for any message. When its
reply comes, a stalled connection that a spare replaced closes, so the pool is back to its size.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from newsletter.campaigns.ledger import Job
from newsletter.campaigns.outcomes import NOT_SENT, Result
from newsletter.transports import Envelope, Outcome, Transport

_WATCH_EVERY = 0.05  # seconds between looks for stalled connections


@dataclass
class Mark:
    """A connection's request to begin ``job``'s body; ``ok`` once its mark is committed."""

    job: Job
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False

    def answer(self, ok: bool) -> None:
        self.ok = ok
        self.done.set()


@dataclass(eq=False)
class Line:
    """One connection's thread and the messages it holds outside the ready queue.

    Changed under :attr:`Connections.lock` only: the thread sets ``job`` and ``following``
    around each send, and :meth:`Connections.watch` may take ``following`` away meanwhile.
    """

    channel: Any
    job: Job | None = None  # being sent
    following: Job | None = None  # announced behind it; its body has not begun
    stalled: bool = False


class Connections:
    """The threads sending over ``transport``'s connections, fed and drained by the dispatcher.

    ``low_water`` and ``batch`` say when a thread wakes the dispatcher: ready messages
    running low, or this many outcomes waiting. ``handed`` and ``returned`` count the jobs
    put in and the pairs taken back: their difference is what the threads hold (ready, on a
    connection, or an outcome not yet taken back). ``most`` is the most connections open at
    once: the pool and its spares.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        stop: threading.Event,
        closing: threading.Event,
        low_water: int,
        batch: int,
        wake: threading.Event | None = None,
    ):
        """``stop``: the campaign pauses, send no more; ``closing``: the run ends; ``wake``:
        shared by the pools of one run (:mod:`newsletter.campaigns.routes`)."""
        self.transport = transport
        self.count = transport.connections
        # a channel that says since when it waits for a reply (``waiting_since``) can stall
        slow = getattr(transport, "slow_reply_seconds", None)
        self.slow: float | None = float(slow) if slow else None
        self.most = self.count + (int(getattr(transport, "spare_connections", 0) or 0))
        self.lock = threading.Lock()
        self.lines: list[Line] = []  # open, in the order they opened
        self.next_watch = 0.0
        self.low_water = low_water
        self.batch = batch
        self.stop = stop
        self.closing = closing
        self.wake = wake or threading.Event()  # the dispatcher is needed
        self.ready: queue.SimpleQueue[Job | None] = queue.SimpleQueue()  # composed, to send
        # Outcomes arrive in a deque (appends are atomic) with a wake-up call only when the
        # dispatcher is needed: ready messages running low, a batch to record, a mark to
        # commit, or an outcome that stops the run.
        self.results: deque[Result] = deque()
        self.marks: deque[Mark] = deque()  # bodies waiting to begin
        # how long a thread waits for its mark before it drops the connection instead
        self.mark_wait = float(getattr(transport, "timeout", 30.0))
        self.threads: list[threading.Thread] = []
        self.handed = 0
        self.returned = 0

    @property
    def held(self) -> int:
        return self.handed - self.returned

    def start(self) -> None:
        """Open every connection's channel and start its thread (raises TransportUnavailable)."""
        for _ in range(self.count):
            self._open()

    def _open(self) -> None:
        line = Line(self.transport.open_channel())
        n = len(self.threads)
        t = threading.Thread(target=self._work, args=(line,), name=f"send-{n}", daemon=True)
        self.lines.append(line)
        self.threads.append(t)
        t.start()

    # -- the dispatcher's side -------------------------------------------------

    def put(self, job: Job) -> None:
        self.handed += 1
        self.ready.put(job)

    def waiting(self) -> int:
        return self.ready.qsize()

    def take_results(self, *, clear: bool = True) -> list[Result]:
        if clear:
            self.wake.clear()  # before taking: an outcome appended after this wakes us again
        out = []
        while self.results:
            out.append(self.results.popleft())
        self.returned += len(out)
        return out

    def take_unsent(self) -> list[Job]:
        """The ready messages no thread has taken: they will not be sent."""
        unsent = []
        while True:
            try:
                job = self.ready.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                unsent.append(job)
        self.returned += len(unsent)
        return unsent

    def watch(self) -> list[Job]:
        """Mark connections whose reply is overdue as stalled; the messages they stalled on.

        What a stalled connection had announced behind its message goes back to the ready
        queue, and while fewer than ``count`` connections are not stalled, spares open (up
        to ``most``). Called by the dispatcher between its other work.
        """
        if self.slow is None or self.closing.is_set():
            return []
        now = time.monotonic()
        if now < self.next_watch:
            return []
        self.next_watch = now + _WATCH_EVERY
        stalled: list[Job] = []
        with self.lock:
            for line in self.lines:
                since = getattr(line.channel, "waiting_since", None)
                if line.stalled or line.job is None or since is None or now - since < self.slow:
                    continue
                line.stalled = True
                stalled.append(line.job)
                if line.following is not None:
                    self.ready.put(line.following)  # not begun: another connection sends it
                    line.following = None
            if not self.stop.is_set():
                live = sum(not line.stalled for line in self.lines)
                for _ in range(min(self.count - live, self.most - len(self.lines))):
                    self._open()
        return stalled

    def take_marks(self) -> list[Mark]:
        return [self.marks.popleft() for _ in range(len(self.marks))]

    def refuse_marks(self) -> None:
        while self.marks:
            self.marks.popleft().answer(False)

    def end(self) -> None:
        """Let every thread finish its message in flight and close its connection."""
        self.closing.set()
        self.refuse_marks()
        for _ in self.threads:
            self.ready.put(None)
        deadline = time.monotonic() + float(getattr(self.transport, "timeout", 5.0)) * 3 + 1
        for t in self.threads:
            while t.is_alive() and time.monotonic() < deadline:
                t.join(timeout=0.05)
                self.refuse_marks()  # a thread that asked just before ``closing`` was set

    # -- a connection's thread ---------------------------------------------------

    def _work(self, line: Line) -> None:
        # A channel that can announce the next message with this one's body
        # (SMTP with PIPELINING: one round trip per message) is given it when
        # one is ready; it is sent next, or reported not sent if the run stops.
        channel = line.channel
        ahead = getattr(channel, "takes_following", False)
        asks = getattr(channel, "asks_before_body", False)
        job = self.ready.get()
        try:
            while job is not None:
                if self.stop.is_set() or self.closing.is_set():
                    # claimed, but the run stops: back to the queue
                    self.results.append((job, NOT_SENT))
                    self.wake.set()
                    job = self.ready.get()
                    continue
                following: Job | None = None
                if ahead:
                    with contextlib.suppress(queue.Empty):
                        following = self.ready.get_nowait()
                        if following is None:
                            self.ready.put(None)  # the end: left for the next get
                then = None
                if following is not None:
                    then = Envelope(following.sender, following.rcpt, len(following.data))
                with self.lock:
                    line.job, line.following = job, following
                try:
                    outcome: Outcome | BaseException
                    if asks:
                        begin = partial(self._begin, job)
                        outcome = channel.send(job.sender, job.rcpt, job.data, then, begin)
                    elif self._begin(job):
                        outcome = channel.send(job.sender, job.rcpt, job.data)
                    else:
                        outcome = NOT_SENT
                except BaseException as exc:  # the dispatcher decides what it means
                    outcome = exc
                    self.stop.set()  # whatever it is, it stops the run: send no more
                with self.lock:
                    # ``watch`` may have given the announced message to another connection;
                    # then the channel drops what it announced before its next message
                    following, line.following, line.job = line.following, None, None
                    # a stalled connection a spare replaced closes once its reply came
                    retire = line.stalled and len(self.lines) > self.count
                    line.stalled = False
                    if retire:
                        self.lines.remove(line)
                if job.began is False and isinstance(outcome, Outcome):
                    outcome = NOT_SENT  # its body never began: as if never sent
                job.data = b""  # sent: the bytes are not needed any more
                self.results.append((job, outcome))
                low = self.ready.qsize() < self.low_water
                if low or len(self.results) >= self.batch or not isinstance(outcome, Outcome):
                    self.wake.set()
                if retire:
                    if following is not None:
                        self.ready.put(following)
                    return
                job = following if following is not None else self.ready.get()
        finally:
            channel.close()

    def _begin(self, job: Job) -> bool:
        """Wait until ``job``'s body may begin (its mark committed); False: it may not."""
        job.began = False
        if self.stop.is_set() or self.closing.is_set():
            return False
        mark = Mark(job)
        self.marks.append(mark)
        self.wake.set()
        # Not committed in time: the body is not sent. The mark may still commit later;
        # the outcome recorded for the message (not sent) makes that harmless.
        job.began = mark.done.wait(self.mark_wait) and mark.ok
        return job.began
