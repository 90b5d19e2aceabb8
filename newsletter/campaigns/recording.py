"""The outcomes of one run between the connections and the transaction that records them.

The dispatcher takes outcomes back from the connections as they arrive and records them in
batches (a transaction at most every ``RECORD_WITHIN`` seconds, with the next claims and
marks); a database locked for too long keeps them for the end of the run, which waits
longer. This class holds them meanwhile, and the per-status counts they move, so that the
dispatcher's own state is only its claims.
"""

from __future__ import annotations

import time

from newsletter.campaigns.outcomes import NOT_SENT, Result

RECORD_WITHIN = 0.05  # seconds an outcome may wait for the batch it is recorded in


class Outcomes:
    """Outcomes taken back and not yet recorded, and the run's deliveries per status."""

    def __init__(self, counts: dict[str, int]):
        self.counts = counts  # deliveries per status, as the recorded transactions left them
        self.total = sum(counts.values())
        self.done: list[Result] = []  # taken back, for the next transaction
        self.since = 0.0  # when the oldest of ``done`` arrived (monotonic)
        self.unrecorded: list[Result] = []  # a locked database kept them from being recorded
        self.attempted = 0  # messages the run tried to send (not those it gave back)

    def __len__(self) -> int:
        """Outcomes held: taken back and not recorded."""
        return len(self.done) + len(self.unrecorded)

    def received(self, results: list[Result]) -> bool:
        """Take ``results`` back from the connections; whether there were any."""
        if not results:
            return False
        if not self.done:
            self.since = time.monotonic()
        self.done += results
        self.attempted += sum(1 for _, outcome in results if outcome is not NOT_SENT)
        return True

    def due(self, stopping: bool) -> bool:
        """Whether the outcomes taken back must be recorded now."""
        return bool(self.done) and (stopping or time.monotonic() - self.since >= RECORD_WITHIN)

    def due_in(self) -> float | None:
        """Seconds until they must be recorded; None when there are none."""
        if not self.done:
            return None
        return max(0.0, self.since + RECORD_WITHIN - time.monotonic())

    def take(self) -> list[Result]:
        """The outcomes for the transaction about to run."""
        finished, self.done = self.done, []
        return finished

    def keep(self, results: list[Result]) -> None:
        """Outcomes a locked database kept from being recorded: recorded at the end."""
        self.unrecorded += results

    def take_all(self) -> list[Result]:
        """Every outcome held, for the last transaction of the run."""
        late = self.unrecorded + self.done
        self.unrecorded, self.done = [], []
        return late

    def move(self, moves: list[tuple[str, str]]) -> None:
        """Recorded: each ``(old, new)`` moved one delivery from status ``old`` to ``new``."""
        counts = self.counts
        for old, new in moves:
            counts[old] = counts.get(old, 0) - 1
            counts[new] = counts.get(new, 0) + 1
