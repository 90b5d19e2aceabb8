"""What every detector returns, and the text helpers they share.

A detector reads one bounce format that is not an RFC 3464 DSN and says
which recipients failed, with the status code and the reply text it found
for each. It never guesses: a message whose markers it does not find is
not its format (None), so a message no detector understands stays unrelated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from newsletter.inbound.reasons import Reason
from newsletter.inbound.report import Parts, text_of
from newsletter.inbound.status import status_code

ADDRESS = r"[^\s<>()\"'@,;:]+@[A-Za-z0-9\u0080-\uffff][A-Za-z0-9.\u0080-\uffff-]*[A-Za-z0-9]"
_ADDRESS = re.compile(ADDRESS)
_SMTP_LINE = re.compile(r"\b[45]\d\d[ -].*|\b[45]\.\d{1,3}\.\d{1,3}\b.*")


@dataclass(frozen=True)
class Failure:
    """One failed recipient as a detector read it."""

    recipient: str
    permanent: bool
    status: str | None = None  # an enhanced status code, when the format gives one
    diagnostic: str | None = None  # the receiver's reply or the format's reason text
    delayed: bool = False  # a delay warning: still being retried
    hint: Reason | None = None  # what the format means when its text says little

    @classmethod
    def of(
        cls,
        recipient: str,
        diagnostic: str | None,
        *,
        permanent: bool = True,
        hint: Reason | None = None,
        delayed: bool = False,
    ) -> Failure:
        """A failure whose status is the code in ``diagnostic``, if any."""
        text = one_line(diagnostic) if diagnostic else None
        address = recipient.strip().strip("<>").lower()
        return cls(address, permanent, status_code(text), text, delayed, hint)


def one_line(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]


def body_text(all_parts: Parts, limit: int = 20_000) -> str:
    """The text parts before any returned message, decoded; HTML reduced to its text."""
    chunks: list[str] = []
    for ctype, part in all_parts:
        if ctype in ("message/rfc822", "text/rfc822-headers"):
            break
        if not ctype.startswith("text/"):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = raw[:limit].decode(charset, "replace")
        except LookupError:
            text = raw[:limit].decode("utf-8", "replace")
        if ctype == "text/html":
            text = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", text, flags=re.IGNORECASE)
            text = re.sub(r"<[^>]+>", "", text).replace("&nbsp;", " ").replace("&lt;", "<")
            text = text.replace("&gt;", ">").replace("&amp;", "&")
        chunks.append(text.replace("\r\n", "\n"))
    return "\n".join(chunks)


def subject(msg: Message) -> str:
    return text_of(msg.get("Subject"))


def addresses(text: str) -> list[str]:
    """Every address in ``text``, in order, once."""
    seen: dict[str, None] = {}
    for m in _ADDRESS.finditer(text):
        seen.setdefault(m.group(0).lower().rstrip("."), None)
    return list(seen)


def section(text: str, start: str, end: str | None = None) -> str | None:
    """The text after the first line containing ``start`` up to one containing ``end``."""
    i = text.find(start)
    if i == -1:
        return None
    rest = text[text.find("\n", i) + 1 :] if "\n" in text[i:] else ""
    if end is not None:
        j = rest.find(end)
        if j != -1:
            rest = rest[:j]
    return rest


def smtp_reply(text: str) -> str | None:
    """The first SMTP reply (``550 5.1.1 …``) in ``text``, joined onto one line."""
    m = _SMTP_LINE.search(text)
    return one_line(m.group(0)) if m else None


def labelled(text: str, labels: tuple[str, ...]) -> list[str]:
    """The values of ``Label: value`` lines (ASCII or full-width colon) for any of ``labels``."""
    pattern = re.compile(
        r"^[ \t\u3000]*(?:"
        + "|".join(map(re.escape, labels))
        + r")[ \t\u3000]*[:：][ \t\u3000]*(.*)$",
        re.MULTILINE,
    )
    return [m.group(1).strip() for m in pattern.finditer(text)]


def labelled_failures(
    text: str, recipient_labels: tuple[str, ...], reason_labels: tuple[str, ...]
) -> list[Failure]:
    """Failures from ``收件人：addr`` / ``退信原因：text`` style fields (webmail providers).

    The reason may continue on the next lines (the receiver's SMTP reply
    often does); the first SMTP reply in them is preferred.
    """
    recipients = [a for value in labelled(text, recipient_labels) for a in addresses(value)]
    if not recipients:
        return []
    reason = next(iter(labelled(text, reason_labels)), "")
    block = section(text, reason) if reason else None
    more = " ".join(x.strip() for x in (block or "").splitlines()[:3] if x.strip())
    diagnostic = " ".join(filter(None, (reason, smtp_reply(more) or "")))
    return [Failure.of(r, diagnostic or None) for r in dict.fromkeys(recipients)]
