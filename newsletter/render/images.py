"""An editor's local image files: checked, cleaned, right-sized and named by their content.

A phone photo is several megabytes, carries the GPS position and camera
serial of whoever took it in its EXIF, and is often stored sideways with an
orientation tag. What goes out is a JPEG or PNG (the formats every mail client
shows; WebP not, Outlook for Windows cannot) twice as wide as it is shown, for
high-density screens, without any metadata, and with ``width`` and ``height``
so clients reserve its space before it loads.

Each problem is one :class:`~newsletter.errors.IssueError` at the ``src``
line of the issue file, raised before anything is written.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import IssueError, Problem
from newsletter.issue.model import Article, Event, Image, Issue
from newsletter.message.media import MediaFile, reference

if TYPE_CHECKING:
    from PIL import Image as Pillow

# A 24-megapixel camera's photo passes; 40 MP is a panorama or a scan that
# would take seconds and hundreds of MB to decode for an image shown 552 px wide.
MAX_PIXELS = 30_000_000
MAX_FILE_BYTES = 25 * 1024 * 1024
# What Pillow may open: sniffed from the bytes, whatever the file is called.
READ_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
JPEG_QUALITY = 82


@dataclass(frozen=True)
class Prepared:
    """A local image ready to send: the file, and the size it is shown at (CSS pixels)."""

    source: str
    alt: str
    file: MediaFile
    width: int
    height: int
    pixel_width: int
    pixel_height: int
    bytes_before: int


def resolve(issue: Issue, mode: str, base_url: str, column: int) -> tuple[Issue, list[Prepared]]:
    """``issue`` with each local image prepared and its ``src`` the reference of ``mode``.

    Remote images keep their address; every image keeps the width and height
    given, and a local one gets both from its file.
    """
    ref = reference(mode, base_url)
    prepared: list[Prepared] = []

    def one(img: Image | None) -> Image | None:
        if img is None or img.path is None:
            return img
        p = prepare(img, column)
        prepared.append(p)
        return replace(img, src=ref(p.file.name), width=p.width, height=p.height)

    def article(a: Article) -> Article:
        return replace(a, image=one(a.image), sections=tuple(article(s) for s in a.sections))

    def event(e: Event) -> Event:
        return replace(e, image=one(e.image))

    out = replace(
        issue,
        articles=tuple(article(a) for a in issue.articles),
        events=tuple(event(e) for e in issue.events),
    )
    return out, prepared


_IMG = re.compile(r"<img\b[^>]*>", re.I)
_FIXED_HEIGHT = re.compile(r"(style=\"[^\"]*?\bheight:\s*)\d+px", re.I)


def scalable_heights(html: str) -> str:
    """Keep each image's ``height`` attribute but let its CSS height follow the width.

    mjml writes the height also as ``height: 828px`` in the style, next to
    ``width: 100%``: on a phone narrower than the column that squeezes the
    picture. The attribute still reserves the space (clients without CSS,
    Outlook's Word engine); ``height: auto`` keeps the proportions everywhere else.
    """

    def fix(m: re.Match[str]) -> str:
        tag = m.group(0)
        return _FIXED_HEIGHT.sub(r"\1auto", tag) if "height=" in tag else tag

    return _IMG.sub(fix, html)


def prepare(img: Image, column: int) -> Prepared:
    """Read, check and convert a local image (the same file and sizes come from the cache)."""
    assert img.path is not None
    file, line, col = img.origin or (None, None, None)
    try:
        st = img.path.stat()
        key = (str(img.path), st.st_mtime_ns, st.st_size, img.width, img.height, column)
        return replace(_prepare(*key), source=img.src, alt=img.alt)
    except (_Unusable, OSError) as exc:
        why = f"cannot read the file: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        problem = Problem(f"image {img.src}: {why}", file=file, line=line, column=col)
        raise IssueError([problem]) from exc


class _Unusable(Exception):
    """The file is not an image we can send; the message says why."""


@lru_cache(maxsize=64)
def _prepare(
    path: str, _mtime: int, size: int, width: int | None, height: int | None, column: int
) -> Prepared:
    if size > MAX_FILE_BYTES:
        raise _Unusable(f"file is {size / 2**20:.1f} MB; at most {MAX_FILE_BYTES >> 20} MB")
    data = Path(path).read_bytes()
    picture, lossless = _decode(data, 2 * (width or column))
    shown_w, shown_h = _shown_size(picture.size, width, height, column)
    pixel_w = min(2 * shown_w, picture.width)
    pixel_h = max(1, round(pixel_w * picture.height / picture.width))
    if (pixel_w, pixel_h) != picture.size:
        from PIL.Image import Resampling

        picture = picture.resize((pixel_w, pixel_h), Resampling.LANCZOS)
    file = _encode(picture, lossless)
    return Prepared("", "", file, shown_w, shown_h, pixel_w, pixel_h, len(data))


def _decode(data: bytes, needed: int) -> tuple[Pillow.Image, bool]:
    """The picture upright and fully decoded, and whether it came in a lossless format."""
    from PIL import Image as Pillow  # only an issue with local images pays for importing it
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Our pixel limit is lower than Pillow's bomb warning; a bigger file is refused below.
            warnings.simplefilter("ignore", Pillow.DecompressionBombWarning)
            opened = Pillow.open(io.BytesIO(data), formats=READ_FORMATS)
        w, h = opened.size
        if w * h > MAX_PIXELS:
            raise _Unusable(
                f"{w}×{h} pixels ({w * h / 1e6:.1f} megapixels) is too large; at most "
                f"{MAX_PIXELS // 1_000_000} megapixels: scale it down first"
            )
        lossless = opened.format in ("PNG", "GIF")
        if opened.format == "JPEG":
            # Decode at a fraction of the size while that is still as wide as needed
            # (either side: the orientation tag may turn it).
            opened.draft("RGB", (needed, needed))
        opened.load()
        return ImageOps.exif_transpose(opened), lossless
    except UnidentifiedImageError as exc:
        raise _Unusable(
            "not a JPEG, PNG, GIF or WebP image (judged by its content, not its name)"
        ) from exc
    except Pillow.DecompressionBombError as exc:
        raise _Unusable(f"too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise _Unusable(f"damaged image, cannot be decoded ({exc})") from exc


def _shown_size(
    natural: tuple[int, int], width: int | None, height: int | None, column: int
) -> tuple[int, int]:
    """CSS pixels: as asked, within the column, never larger than the file, aspect kept."""
    w, h = natural
    scale = min(1.0, column / w)
    if width:
        scale = min(scale, width / w)
    if height:
        scale = min(scale, height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _encode(picture: Pillow.Image, lossless: bool) -> MediaFile:
    """JPEG for photos, PNG for what has transparency or came as PNG/GIF; no metadata at all.

    The pixels are copied into a new image so nothing of the original's info
    (EXIF, XMP, ICC, comments, PNG text chunks) can be written with them.
    """
    alpha = picture.mode in ("RGBA", "LA", "PA") or picture.has_transparency_data
    lossless = lossless or alpha
    if lossless:
        mode = "RGBA" if alpha else ("L" if picture.mode in ("L", "1") else "RGB")
    else:
        mode = "L" if picture.mode == "L" else "RGB"
    from PIL.Image import frombytes

    pixels = picture.convert(mode)
    clean = frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if lossless:
        clean.save(out, "PNG", optimize=True)
        return MediaFile.of(out.getvalue(), "image/png")
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return MediaFile.of(out.getvalue(), "image/jpeg")
