"""An issue's own image files as a message and the archive carry them.

A local image becomes one file named by its content hash (``<hash>.jpg``),
referenced from the HTML in one of two ways, by ``[media] mode``:

- ``hosted``: ``<base_url>/archive/media/<name>``, a file the web archive
  publishes; the mail client fetches it when the reader opens the message.
- ``inline``: ``cid:<name>``, a part of the message's ``multipart/related``
  (RFC 2387, RFC 2392); opening the message requests nothing.

A campaign snapshot must outlive the files on the editor's disk, so it keeps
each image as a ``data:`` URI in its HTML (:func:`embed`); the sender, the
archive and the web server turn those back into files and references
(:func:`extract`). The hash names survive the round trip because they are
recomputed from the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP

TYPES = {".jpg": "image/jpeg", ".png": "image/png"}
EXTENSIONS = {v: k for k, v in TYPES.items()}
MEDIA_DIR = "media"  # under the archive: <base_url>/archive/media/<name>
# Immutable names: a changed image is another file, so a reader's cache may keep one forever.
CACHE_CONTROL = "public, max-age=31536000, immutable"

_NAME = r"[0-9a-f]{20}\.(?:jpg|png)"
_DATA_URI = re.compile(r"data:(image/(?:jpeg|png));base64,([A-Za-z0-9+/=]+)")
_REFERENCE = re.compile(rf"(?:cid:|[^\s\"'<>()]*/archive/{MEDIA_DIR}/)({_NAME})")


@dataclass(frozen=True)
class MediaFile:
    """One image file of an issue: ``name`` is ``<content hash>.<ext>``."""

    name: str
    data: bytes

    @property
    def content_type(self) -> str:
        return TYPES[self.name[self.name.rindex(".") :]]

    @classmethod
    def of(cls, data: bytes, content_type: str) -> MediaFile:
        digest = hashlib.sha256(data).hexdigest()[:20]
        return cls(digest + EXTENSIONS[content_type], data)


def hosted_url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/archive/{MEDIA_DIR}/{name}"


def cid_url(name: str) -> str:
    return f"cid:{name}"


def reference(mode: str, base_url: str) -> Callable[[str], str]:
    """How the HTML of a message names a file in ``mode`` (``hosted`` or ``inline``)."""
    if mode == "inline":
        return cid_url
    return lambda name: hosted_url(base_url, name)


def referenced(html: str) -> list[str]:
    """The names of the media files ``html`` refers to (hosted or cid), each once, in order."""
    return list(dict.fromkeys(m.group(1) for m in _REFERENCE.finditer(html)))


def rewrite(html: str, ref: Callable[[str], str]) -> str:
    """``html`` with every media reference (hosted or cid) replaced by ``ref(name)``."""
    return _REFERENCE.sub(lambda m: ref(m.group(1)), html)


def embed(html: str, files: Iterable[MediaFile]) -> str:
    """``html`` for a campaign snapshot: every referenced file as a ``data:`` URI."""
    by_name = {f.name: f for f in files}

    def data_uri(m: re.Match[str]) -> str:
        f = by_name.get(m.group(1))
        if f is None:
            return m.group(0)
        return f"data:{f.content_type};base64,{base64.b64encode(f.data).decode('ascii')}"

    return _REFERENCE.sub(data_uri, html)


def extract(html: str, ref: Callable[[str], str]) -> tuple[str, list[MediaFile]]:
    """The snapshot ``html`` with its ``data:`` images as files, referenced by ``ref(name)``."""
    files: dict[str, MediaFile] = {}

    def named(m: re.Match[str]) -> str:
        f = MediaFile.of(base64.b64decode(m.group(2)), m.group(1))
        files.setdefault(f.name, f)
        return ref(f.name)

    return _DATA_URI.sub(named, html), list(files.values())


def related(html_part: Message, files: Iterable[MediaFile]) -> Message:
    """``multipart/related``: the HTML part first, then each image with its Content-ID.

    Mail clients show such parts in place of the ``cid:`` references and, with
    ``Content-Disposition: inline``, not as attachments to download.
    """
    # "=_" never occurs in quoted-printable or base64 text, so the boundary is safe.
    boundary = f"=_{secrets.token_hex(12)}"
    outer = MIMEMultipart("related", boundary=boundary, type="text/html", policy=SMTP)
    outer.attach(html_part)
    for f in files:
        maintype, subtype = f.content_type.split("/")
        part = MIMEBase(maintype, subtype, policy=SMTP)
        part["Content-Transfer-Encoding"] = "base64"
        part["Content-ID"] = f"<{f.name}>"
        part["Content-Disposition"] = f'inline; filename="{f.name}"'
        part.set_payload(base64.encodebytes(f.data).decode("ascii").replace("\n", "\r\n"))
        outer.attach(part)
    return outer
