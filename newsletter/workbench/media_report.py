"""The images part of ``check --report``: each local image, and what each ``[media] mode`` costs.

An editor choosing between ``hosted`` and ``inline`` weighs a request to the
organisation's server at every opening against a larger message in every
inbox; the report puts both numbers side by side for the issue at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from newsletter.config import Settings
from newsletter.message import media
from newsletter.render import GMAIL_CLIP_BYTES, Rendered
from newsletter.workbench.spam import compose_sample

# ``Report.add``: check, severity, message, where, data
Add = Callable[..., Any]


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def image_findings(add: Add, rendered: Rendered, settings: Settings) -> None:
    """One note per local image, then the whole message's size in each mode."""
    if not rendered.images:
        return
    for p in rendered.images:
        add(
            "media",
            "note",
            f"{p.source}: {_kb(p.bytes_before)} → {_kb(len(p.file.data))} "
            f"({p.file.content_type}, {p.pixel_width}×{p.pixel_height} px file shown at "
            f"{p.width}×{p.height}), alt {p.alt!r}",
            src=p.source,
            name=p.file.name,
            bytes_before=p.bytes_before,
            bytes_after=len(p.file.data),
            width=p.width,
            height=p.height,
            pixel_width=p.pixel_width,
            pixel_height=p.pixel_height,
            alt=p.alt,
        )
    mode = settings.media.mode
    files = [p.file for p in rendered.images]
    hosted_ref = media.reference("hosted", settings.delivery.base_url)
    hosted = compose_sample(
        replace(rendered, html=media.rewrite(rendered.html, hosted_ref)), settings
    )
    inline = compose_sample(
        replace(rendered, html=media.rewrite(rendered.html, media.cid_url)), settings, images=files
    )
    chosen = " (the mode in use: media.mode)"
    add(
        "media-size",
        "note",
        f"hosted: message {_kb(len(hosted))}; each opening requests {len(files)} image(s) "
        f"from {settings.delivery.base_url}" + (chosen if mode == "hosted" else ""),
        mode="hosted",
        bytes=len(hosted),
    )
    over = len(inline) > GMAIL_CLIP_BYTES
    message = (
        f"inline: message {_kb(len(inline))} ({_kb(len(inline) - len(hosted))} for the images, "
        "base64); opening it requests nothing" + (chosen if mode == "inline" else "")
    )
    if over:
        message += "; over Gmail's 102 KB clipping limit: Gmail may cut the message off"
    severity = "warning" if over and mode == "inline" else "note"
    add("media-size", severity, message, mode="inline", bytes=len(inline))
