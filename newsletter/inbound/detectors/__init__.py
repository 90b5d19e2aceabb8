"""Detectors of non-DSN bounce formats: one module per format, flufl.bounce's layout.

Each module has ``NAME`` and ``detect(msg, parts, text)`` returning the
:class:`~newsletter.inbound.detectors.base.Failure` s it reads, or an empty
list when the message is not its format. :func:`scan` tries ours first
(each knows where its format puts the reason), then flufl.bounce's 17
formats. Adding a format means adding a module here, to ``DETECTORS``, and
its fixtures under ``tests/fixtures/bounces/<name>/``.
"""

from __future__ import annotations

from email.message import Message
from types import ModuleType

from newsletter.inbound.detectors import (
    aliyun,
    dma,
    docomo,
    exchange2003,
    exmail,
    flufl,
    fml,
    james,
    kddi,
    lotus,
    mcafee,
    mfilter,
    netease,
    opensmtpd,
    qq,
    sendmail5,
    sina,
    sun,
    verizon,
    workmail,
)
from newsletter.inbound.detectors.base import Failure, body_text
from newsletter.inbound.report import Parts

# Specific markers first; Exmail before QQ (its notices mention QQ Mail too).
DETECTORS: list[ModuleType] = [
    dma,
    workmail,
    sendmail5,
    lotus,
    mcafee,
    mfilter,
    kddi,
    docomo,
    fml,
    verizon,
    james,
    opensmtpd,
    exchange2003,
    sun,
    exmail,
    qq,
    netease,
    aliyun,
    sina,
]


def scan(msg: Message, all_parts: Parts) -> tuple[str, list[Failure]] | None:
    """The first format that reads failures from ``msg``: (its name, the failures)."""
    text = body_text(all_parts)
    for module in DETECTORS:
        try:
            found = module.detect(msg, all_parts, text)
        except (ValueError, LookupError, TypeError):  # odd input is not our user's problem
            found = []
        if found:
            return module.NAME, found
    found = flufl.detect(msg, all_parts, text)
    return (flufl.NAME, found) if found else None
