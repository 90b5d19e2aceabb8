"""An IMAP mailbox as a source, with imapclient: read with ``BODY.PEEK``, flag and move ours.

Reading never changes a message (``BODY.PEEK[]`` does not set ``\\Seen``).
A message recognised as ours gets the ``[inbound] imap_flag`` keyword and,
with ``imap_move``, is moved to ``imap_processed_folder`` (created when
missing). Nothing is expunged or deleted. The password comes from
``$NEWSLETTER_IMAP_PASSWORD`` or a 0600 file named by
``$NEWSLETTER_IMAP_PASSWORD_FILE``, never from the URL; ``imap://`` without
TLS is accepted only to this machine.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from newsletter.config import Inbound, read_secret
from newsletter.configschema import is_loopback
from newsletter.errors import OperationFailed
from newsletter.inbound.sources import InboundError, Item

PASSWORD_ENV = "NEWSLETTER_IMAP_PASSWORD"
_CHUNK = 200


class ImapSource:
    """One folder of an IMAP account."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        folder: str,
        *,
        tls: bool,
        settings: Inbound,
    ):
        import imapclient

        self.name = f"imap{'s' if tls else ''}://{user}@{host}:{port}/{folder}"
        self.folder = folder
        self.settings = settings
        context = ssl.create_default_context(cafile=settings.imap_ca_file) if tls else None
        try:
            self.client = imapclient.IMAPClient(
                host, port=port, ssl=tls, ssl_context=context, timeout=60
            )
            self.client.login(user, password)
            self.client.select_folder(folder, readonly=True)
        except imapclient.exceptions.LoginError as exc:
            raise OperationFailed(f"{self.name}: login refused: {exc}") from exc
        except ConnectionRefusedError as exc:
            raise OperationFailed(
                f"{self.name}: connection refused: no IMAP server listens on {host} port "
                f"{port}; check the host and port in the URL and that the server is running"
            ) from exc
        except (OSError, imapclient.exceptions.IMAPClientError) as exc:
            raise OperationFailed(f"{self.name}: {exc}") from exc
        # Messages flagged by an earlier run (kept in place with imap_move = false) are done.
        self.uids: list[int] = sorted(self.client.search(["NOT", "KEYWORD", settings.imap_flag]))

    @classmethod
    def from_url(cls, url: str, *, settings: Inbound | None = None) -> ImapSource:
        """``imaps://user@host[:port]/FOLDER``; the password from the environment."""
        parts = urlsplit(url)
        if parts.password is not None:
            raise InboundError(
                f"put the IMAP password in ${PASSWORD_ENV} (or ${PASSWORD_ENV}_FILE), "
                "not in the URL"
            )
        host, user = parts.hostname, unquote(parts.username or "")
        if not host or not user:
            raise InboundError(f"{url}: needs a user and a host, e.g. imaps://bounces@host/INBOX")
        tls = parts.scheme == "imaps"
        if not tls and not is_loopback(host):
            raise InboundError(
                f"{url}: imap:// would send the password in clear; use imaps:// "
                "(plain IMAP only to 127.0.0.1 or ::1)"
            )
        password = read_secret(PASSWORD_ENV)
        if not password:
            raise InboundError(f"no IMAP password: set ${PASSWORD_ENV} or ${PASSWORD_ENV}_FILE")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        port = parts.port or (993 if tls else 143)
        return cls(host, port, user, password, folder, tls=tls, settings=settings or Inbound())

    def count(self) -> int | None:
        return len(self.uids)

    def __iter__(self) -> Iterator[Item]:
        for start in range(0, len(self.uids), _CHUNK):
            chunk = self.uids[start : start + _CHUNK]
            fetched = self.client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                data = fetched.get(uid, {}).get(b"BODY[]")
                if data is not None:  # expunged by another client meanwhile
                    yield Item(uid, bytes(data))

    def done(self, items: list[Item]) -> int:
        """Flag ``items`` and, with ``imap_move``, move them; returns how many were moved."""
        if not items:
            return 0
        uids = [item.ref for item in items]
        s = self.settings
        self.client.select_folder(self.folder)
        self.client.add_flags(uids, [s.imap_flag.encode()])
        moved = 0
        if s.imap_move:
            if not self.client.folder_exists(s.imap_processed_folder):
                self.client.create_folder(s.imap_processed_folder)
            # Without MOVE (RFC 6851) a move would need an expunge: flagged is enough then.
            if self.client.has_capability("MOVE"):
                self.client.move(uids, s.imap_processed_folder)
                moved = len(uids)
        self.client.select_folder(self.folder, readonly=True)
        return moved

    def close(self) -> None:
        # The server may have gone away already: then there is nothing left to release.
        with contextlib.suppress(Exception):
            self.client.logout()
