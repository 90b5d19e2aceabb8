"""Bounces in the non-standard formats of real MTAs, read by flufl.bounce.

flufl.bounce (Mailman's detector library) knows 17 formats that are not
RFC 3464 DSNs: qmail, old Exim, Yahoo, Exchange and more. It says which
recipients failed, temporarily or permanently, but not why, so the reason
is the diagnostic line that names the recipient in the message text, judged
by :mod:`newsletter.inbound.status`. Every MTA format of the fixtures is
either an RFC 3464 DSN or one flufl.bounce knows, so there is no detector
of our own yet; one for a format it misses would be a module per format
beside this one, tried when flufl.bounce finds nothing, with its fixtures.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message

from newsletter.inbound.report import Parts

# flufl.bounce logs every detector it runs at INFO and a traceback at
# ERROR for a message it cannot read; neither is for our users' terminals.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

_SMTP_LINE = re.compile(r"\b[45]\d\d[ -].*|\b[45]\.\d{1,3}\.\d{1,3}\b.*")


@dataclass(frozen=True)
class MtaFailure:
    recipient: str
    permanent: bool
    diagnostic: str | None


def body_text(all_parts: Parts, limit: int = 20_000) -> str:
    """The text parts before any returned message, for diagnostics."""
    chunks: list[str] = []
    for ctype, part in all_parts:
        if ctype == "message/rfc822":
            break
        if not ctype.startswith("text/") or ctype == "text/rfc822-headers":
            continue
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes):
            chunks.append(raw[:limit].decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(chunks)


def diagnostic_for(text: str, recipient: str) -> str | None:
    """The SMTP reply that belongs to ``recipient``: on its line or the few after it."""
    lines = text.splitlines()
    low = recipient.lower()
    for i, line in enumerate(lines):
        if low in line.lower():
            for candidate in lines[i : i + 6]:
                m = _SMTP_LINE.search(candidate)
                if m:
                    return " ".join(m.group(0).split())[:500]
            # Exim writes the reason indented under the address, without a code.
            after = [x for x in lines[i + 1 : i + 3] if x.strip()]
            if after and after[0][:1].isspace():
                return " ".join(after[0].split())[:500]
    for line in lines:
        m = _SMTP_LINE.search(line)
        if m:
            return " ".join(m.group(0).split())[:500]
    return None


def mta_failures(msg: Message, all_parts: Parts) -> list[MtaFailure]:
    """Recipients a non-DSN bounce reports, with the reply text found for each."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on odd input is not our user's problem
        temporary, permanent = frozenset(), frozenset()
    found = {r.decode("ascii", "replace"): True for r in permanent}
    for r in temporary:
        found.setdefault(r.decode("ascii", "replace"), False)
    if not found:
        return []
    text = body_text(all_parts)
    return [MtaFailure(r, perm, diagnostic_for(text, r)) for r, perm in sorted(found.items())]
