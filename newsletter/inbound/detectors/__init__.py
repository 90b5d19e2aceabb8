"""Our own bounce detectors, one module per MTA format that flufl.bounce misses.

Each module has ``detect(msg) -> dict[str, bool]`` (recipient → permanent)
and fixtures in ``tests/fixtures/inbound/``; adding a format means adding a
module here and its name to ``_DETECTORS``.
"""

from __future__ import annotations

import importlib
from email.message import Message

_DETECTORS: tuple[str, ...] = ()


def run_own_detectors(msg: Message) -> dict[str, bool]:
    """The first of our detectors that recognises ``msg``, or an empty result."""
    for name in _DETECTORS:
        found = importlib.import_module(f"newsletter.inbound.detectors.{name}").detect(msg)
        if found:
            return found
    return {}
