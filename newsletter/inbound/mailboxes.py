"""Which source a command-line SOURCE names: an ``imap(s)://`` URL, a Maildir or an mbox file.

Apart from :mod:`.sources` so that the IMAP source, which builds on it, is
imported only when a URL asks for it.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Inbound
from newsletter.inbound.sources import InboundError, MaildirSource, MboxSource, Source


def open_source(spec: str, settings: Inbound | None = None) -> Source:
    """A source from the command line: an ``imap(s)://`` URL, a Maildir or an mbox file."""
    settings = settings or Inbound()
    if spec.startswith(("imap://", "imaps://")):
        from newsletter.inbound.imap import ImapSource

        return ImapSource.from_url(spec, settings=settings)
    path = Path(spec).expanduser()
    if path.is_dir():
        return MaildirSource(path, settings.processed_folder)
    if path.is_file():
        return MboxSource(path)
    raise InboundError(f"{spec}: no such Maildir, mbox file or imap:// URL")
