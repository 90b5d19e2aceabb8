"""The busiest window of a series of send times: what every rate-limit test asserts on."""

from __future__ import annotations


def most_within(starts: list[float], seconds: float) -> int:
    """The most starts (sorted, in seconds) inside any window ``seconds`` long."""
    most, first = 0, 0
    for last, t in enumerate(starts):
        while t - starts[first] >= seconds - 1e-9:
            first += 1
        most = max(most, last - first + 1)
    return most
