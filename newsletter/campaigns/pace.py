"""When the next message of a run may go: the rate limits, as the dispatcher asks them.

The only state the dispatcher needs about pacing is the limiter itself, which remembers the
recent starts (:mod:`newsletter.ratelimit`) or reserves them in the database for every worker
(:mod:`newsletter.workers.pacing`); this keeps it out of the dispatcher's own state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from newsletter.config import Delivery
from newsletter.ratelimit import Pacer, RateLimiter


class Pace:
    """One run's rate limit: ``settings``' limits, seeded from the delivery log, or ``shared``."""

    def __init__(
        self,
        settings: Delivery,
        recent_starts: Callable[[int], list[float]],
        shared: Pacer | None = None,
    ):
        """``recent_starts(n)``: the log's last ``n`` send times; limits hold across runs."""
        self.limiter: Pacer
        if shared is None:
            local = RateLimiter(
                settings.rate_per_second, settings.rate_per_minute, settings.rate_per_hour
            )
            if local.limited:
                for start in recent_starts(local.depth):
                    local.record(start)
            self.limiter = local
        else:
            self.limiter = shared

    @property
    def limited(self) -> bool:
        return self.limiter.limited

    def take(self) -> float:
        """Seconds until the next message may go; 0 when it may, and then its slot is taken."""
        now = time.time()
        wait = self.limiter.delay(now)
        if wait > 0:
            return wait
        self.limiter.record(now)
        return 0.0
