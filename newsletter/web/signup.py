"""Sign-up and confirmation: ``/subscribe/<list>`` and ``/confirm/<token>``.

The form's answer is the same page, byte for byte, for a new, an existing,
an unsubscribed and a suppressed address, and costs the same: the request
checks only the shape of the input (CSRF, per-client limit, honeypot,
address syntax), stores the post with one insert and leaves the rest to the
outbox (:mod:`newsletter.web.mailer`).
``GET /confirm/<token>`` shows a button; only its POST confirms, because
mail scanners open links.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from newsletter import languages
from newsletter.errors import BadInput
from newsletter.subscribers.addresses import AddressError, parse_address
from newsletter.subscribers.errors import UnknownList
from newsletter.subscribers.lists import get_list
from newsletter.subscribers.optin import Pending, add_request, pending_signup
from newsletter.subscribers.tables import MailingList
from newsletter.tokens import TokenError, ids, token_key
from newsletter.web.context import Web, web_of
from newsletter.web.forms import CsrfError, read_form, text
from newsletter.web.pages import accepted_language, language_choices, web_strings
from newsletter.web.zones import FIELD_MAX, chosen_zone, zone_choices


def _list(session: Session, slug: str) -> MailingList:
    try:
        return get_list(session, slug)
    except UnknownList:
        raise HTTPException(404) from None


async def subscribe(request: Request) -> Response:
    web = web_of(request)
    slug = request.path_params["list"]
    ml = await web.db_call(_list, slug)
    if request.method != "POST":
        lang = web.language(request, ml.language)
        offered = [tag for tag, _ in _choices(ml)]
        accept = request.headers.get("accept-language")
        preselect = accepted_language(accept, offered) or ml.language or lang
        return _form(request, web, ml, lang, choice=preselect)
    form = await read_form(request)
    language = text(form, "language", 35)
    lang = web.language(request, language, ml.language)
    try:
        web.csrf.check(request, form)
    except CsrfError:
        return web.form_expired(request, lang)
    if not web.client_allowed(request):
        return web.too_many(request, lang)
    email, name = text(form, "email", 320), text(form, "name", 200)
    timezone = chosen_zone(text(form, "timezone", FIELD_MAX))
    if text(form, "website"):
        return _answer(request, web, lang)  # a bot filled the honeypot: answer, do nothing
    try:
        address = parse_address(email).email
    except AddressError:
        return _form(
            request, web, ml, lang, status=400, email=email, name=name, choice=language,
            error=web_strings(lang)["subscribe_invalid"], timezone=timezone,
        )  # fmt: skip
    await web.db_call(
        add_request, ml.slug, address, name=name or None,
        language=language if languages.resolve(language) else None, timezone=timezone,
    )  # fmt: skip
    web.outbox.notify()
    return _answer(request, web, lang)


def _form(
    request: Request,
    web: Web,
    ml: MailingList,
    lang: str,
    *,
    status: int = 200,
    email: str = "",
    name: str = "",
    error: str | None = None,
    choice: str | None = None,
    timezone: str | None = None,
) -> Response:
    """The form in ``lang``, its language menu on ``choice`` (what the browser asks for)."""
    return web.page(
        request,
        "subscribe.html.j2",
        lang,
        status=status,
        form=True,
        action=f"{request.scope.get('root_path', '')}{request.url.path}",
        list_name=ml.name,
        description=ml.description,
        languages=_choices(ml, choice),
        language=choice or lang,
        email=email,
        name=name,
        error=error,
        zones=zone_choices(lang),
        timezone=timezone or "",
    )


def _choices(ml: MailingList, *keep: str | None) -> list[tuple[str, str]]:
    """The form's languages: the list's own choice if it made one, else every catalog."""
    if ml.signup_languages:
        return language_choices(*ml.signup_languages, *keep, only=True)
    return language_choices(ml.language, *keep)


def _answer(request: Request, web: Web, lang: str) -> Response:
    """The one answer to every accepted sign-up, whatever the address's state."""
    return web.notice(request, lang, "check_mail_title", "check_mail_text")


def _signup_id(web: Web, token: str) -> int:
    (signup_id,) = ids(token_key(web.db.secret), "confirm", token, 1)
    return signup_id


async def confirm(request: Request) -> Response:
    web = web_of(request)
    max_age = timedelta(days=web.settings.web.confirm_days)
    try:
        signup_id = _signup_id(web, request.path_params["token"])
        pending: Pending = await web.db_call(pending_signup, signup_id, max_age=max_age)
    except TokenError:
        return web.invalid_link(request)
    lang = web.language(request, pending.signup.language, pending.mailing_list.language)
    if request.method == "POST":
        try:
            form = await read_form(request)
            web.csrf.check(request, form)
        except (CsrfError, BadInput):
            return web.form_expired(request, lang)
        try:
            # The welcome mail, if the list has one, is queued in the same transaction.
            pending, new_subscriber = await web.db_call(
                web.outbox.confirm, signup_id, max_age=max_age
            )
        except TokenError:
            return web.invalid_link(request)
        if new_subscriber is not None:
            web.outbox.notify()
    if pending.confirmed:
        t = web_strings(lang)
        return web.page(
            request, "notice.html.j2", lang, token_page=True,
            title=t["confirmed_title"],
            text=t["confirmed_text"].format(list=pending.mailing_list.name),
        )  # fmt: skip
    return web.page(
        request,
        "confirm.html.j2",
        lang,
        token_page=True,
        form=True,
        action=f"{request.scope.get('root_path', '')}{request.url.path}",
        list_name=pending.mailing_list.name,
    )
