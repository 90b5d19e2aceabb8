"""Form posts: reading them, and the CSRF check every form but RFC 8058's one-click needs.

Double submit with a signed value: the page sets a random nonce in a
``SameSite=Strict``, ``HttpOnly`` cookie (the only cookie the site sets,
and only on pages with a form) and puts ``tokens.csrf_token(nonce)`` in a
hidden field. A post is accepted only when the field's MAC matches the
cookie's nonce, which another site can neither read nor forge.

Invariants: a nonce is 32 characters of ``[0-9a-f]`` (``NONCE``), checked
before anything else looks at it, so no cookie value can make signing or
comparing raise; the field names its own nonce, and that nonce must be the
cookie's (one session's field never goes with another session's cookie).
Served over https the cookie is ``__Host-newsletter_csrf``: browsers accept
that name only from the host itself with ``Secure`` and ``Path=/``, so a
sibling subdomain cannot plant a nonce of its choosing.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from newsletter.tokens import TokenError, csrf_token, verify

COOKIE = "newsletter_csrf"
HOST_COOKIE = "__Host-" + COOKIE
NONCE = re.compile(r"[0-9a-f]{32}")
_URLENCODED = "application/x-www-form-urlencoded"
_MAX_FIELDS = 20


class CsrfError(Exception):
    """The form's CSRF field is missing or does not match the cookie."""


class Csrf:
    def __init__(self, key: bytes, *, secure: bool) -> None:
        self.key = key
        self.secure = secure
        self.cookie = HOST_COOKIE if secure else COOKIE

    def nonce(self, request: Request) -> str | None:
        """The cookie's nonce if it has the one shape we issue (ASCII hex), else None."""
        nonce = request.cookies.get(self.cookie, "")
        return nonce if NONCE.fullmatch(nonce) else None

    def issue(self, request: Request) -> tuple[str, str]:
        """(nonce for the cookie, value for the hidden field); reuses a valid cookie."""
        nonce = self.nonce(request) or secrets.token_hex(16)
        return nonce, csrf_token(self.key, nonce)

    def set_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(
            self.cookie,
            nonce,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )

    def check(self, request: Request, form: FormData) -> None:
        nonce = self.nonce(request)
        field = form.get("csrf")
        if nonce is None or not isinstance(field, str):
            raise CsrfError
        try:
            parts = verify(self.key, "csrf", field)
        except TokenError:
            raise CsrfError from None
        if len(parts) != 1 or not hmac.compare_digest(parts[0], nonce):
            raise CsrfError


async def read_form(request: Request) -> FormData:
    """The posted fields; URL-encoded or multipart (RFC 8058 allows both), no files.

    Sizes are left to the body limit (``security.BodyLimit``), so a request
    that is too large gets one answer, 413, however its bytes arrive.
    """
    if request.headers.get("content-type", "").startswith(_URLENCODED):
        # What browsers and most mailbox providers send; parsed here, as the
        # one-click endpoint's hot path, without the multipart machinery.
        try:
            fields = parse_qsl(
                (await request.body()).decode("ascii"),
                keep_blank_values=True,
                max_num_fields=_MAX_FIELDS,
                errors="strict",
            )
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400) from None
        return FormData(fields)  # type: ignore[arg-type]
    return await request.form(max_files=0, max_fields=_MAX_FIELDS)


def text(form: FormData, name: str, limit: int = 400) -> str:
    """A text field, stripped and cut to ``limit`` characters; missing is empty."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
