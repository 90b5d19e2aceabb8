"""``POST /webhooks/ses|postmark|generic``: relays' bounce and complaint events.

The routes only read the body and headers and answer; authentication,
replay checks and decisions are :mod:`newsletter.inbound.webhooks` (SES:
:mod:`newsletter.inbound.ses`), which feeds the same classifier and policy
as ``inbound process``. Answers are
short plain text; a refused event changes nothing and gets a 4xx.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.inbound.ses import SnsVerifier, apply_ses, verify_ses
from newsletter.inbound.webhooks import Outcome, WebhookError, handle_generic, handle_postmark
from newsletter.web.context import plain, web_of


def _answer(outcome: Outcome) -> Response:
    n = len(outcome.recorded)
    return plain(f"ok: {n} recorded{'; ' + outcome.note if outcome.note else ''}\n")


async def ses(request: Request) -> Response:
    web = web_of(request)
    verifier: SnsVerifier = request.app.state.sns_verifier
    body = await request.body()
    try:
        # Verified first, outside the database's turn: it may wait on Amazon's host.
        message = await run_in_threadpool(verify_ses, web.settings, body, verifier)
        return _answer(await web.db_call(apply_ses, web.settings, message, body))
    except WebhookError as exc:
        return plain(f"refused: {exc}\n", exc.status)


async def postmark(request: Request) -> Response:
    web = web_of(request)
    body = await request.body()
    auth = request.headers.get("authorization")
    try:
        return _answer(await web.db_call(handle_postmark, web.settings, body, auth))
    except WebhookError as exc:
        return plain(f"refused: {exc}\n", exc.status)


async def generic(request: Request) -> Response:
    web = web_of(request)
    body = await request.body()
    timestamp = request.headers.get("x-newsletter-timestamp")
    signature = request.headers.get("x-newsletter-signature")
    try:
        outcome = await web.db_call(handle_generic, web.settings, body, timestamp, signature)
        return _answer(outcome)
    except WebhookError as exc:
        return plain(f"refused: {exc}\n", exc.status)


ROUTES = [
    Route("/webhooks/ses", ses, methods=["POST"]),
    Route("/webhooks/postmark", postmark, methods=["POST"]),
    Route("/webhooks/generic", generic, methods=["POST"]),
]
