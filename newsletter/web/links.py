"""The routes behind the links in every message: unsubscribe, one-click, undo, manage.

``GET /unsubscribe/<token>`` only asks (mail scanners and link previews
open every link); the page's button posts back with a CSRF field. A post
whose body is ``List-Unsubscribe=One-Click`` is RFC 8058's one-click
unsubscribe, sent by the mailbox provider without cookies or CSRF field
(§3.1): it unsubscribes at once and answers 200 with a short body. Both
end in :func:`newsletter.subscribers.optout.unsubscribe_by_ids`, with
source ``web`` or ``one-click`` in the consent log, applied by the app's
one writer thread (:mod:`newsletter.web.groupcommit`), which commits the
unsubscribes waiting at the same time together and answers each only
after that commit.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from newsletter import languages
from newsletter.errors import BadInput
from newsletter.message.public import MANAGE_ROUTE
from newsletter.subscribers.optin import add_request
from newsletter.subscribers.optout import (
    LinkHolder,
    NeedsConfirmation,
    active_lists,
    masked,
    resolve,
    undo_by_token,
    update_preferences,
)
from newsletter.subscribers.tables import MailingList
from newsletter.tokens import TokenError
from newsletter.web.context import plain, web_of
from newsletter.web.forms import CsrfError, read_form, text
from newsletter.web.pages import language_choices, web_strings
from newsletter.web.zones import FIELD_MAX, chosen_zone, zone_choices


def is_one_click(form: FormData) -> bool:
    """RFC 8058's body, exactly: one field, ``List-Unsubscribe=One-Click``.

    The only post that skips the CSRF check, so nothing looser may pass for it
    (another value of the field, or the field beside a page form's fields).
    """
    return list(form.multi_items()) == [("List-Unsubscribe", "One-Click")]


def _action(request: Request) -> str:
    """The form's target: this very path (the token stays out of any other URL)."""
    return f"{request.scope.get('root_path', '')}{request.url.path}"


async def unsubscribe_general(request: Request) -> Response:
    """``/unsubscribe`` without a token: the public archive's link; explains how to leave."""
    web = web_of(request)
    lang = web.language(request)
    t = web_strings(lang)
    mailto = web.settings.delivery.unsubscribe_mailto or web.settings.organisation.sender_email
    text_ = t["general_unsubscribe_text"].format(mailto=mailto)
    return web.page(request, "notice.html.j2", lang, title=t["unsubscribe_title"], text=text_)


async def manage_general(request: Request) -> Response:
    """``/manage`` without a token: the public archive's link; says where the personal one is."""
    web = web_of(request)
    lang = web.language(request)
    t = web_strings(lang)
    return web.page(
        request, "notice.html.j2", lang, title=t["manage_title"], text=t["general_manage_text"]
    )


async def unsubscribe(request: Request) -> Response:
    web = web_of(request)
    token = request.path_params["token"]
    if request.method != "POST":  # GET (HEAD arrives as GET: security.HeadAsGet)
        try:
            holder = await web.db_call(resolve, token)
        except TokenError:
            return web.invalid_link(request)
        return _unsubscribe_page(request, holder, "done" if holder.unsubscribed else "ask")
    try:
        form = await read_form(request)
    except BadInput:
        return web.invalid_link(request)
    one_click = is_one_click(form)
    if not one_click:
        try:
            web.csrf.check(request, form)
        except CsrfError:
            return web.form_expired(request, web.language(request))
    try:
        left = await web.unsubscribes.unsubscribe(token, source="one-click" if one_click else "web")
    except TokenError:
        if one_click:
            return plain("invalid link\n", status=400)
        return web.invalid_link(request)
    if one_click:
        return plain("unsubscribed\n")
    return _page(request, left.list_name, (left.language, left.list_language), "done")


def _unsubscribe_page(request: Request, holder: LinkHolder, state: str) -> Response:
    languages = (holder.subscriber.language, holder.mailing_list.language)
    return _page(request, holder.mailing_list.name, languages, state)


def _page(
    request: Request, list_name: str, languages: tuple[str | None, str | None], state: str
) -> Response:
    web = web_of(request)
    lang = web.language(request, *languages)
    action = _action(request).removesuffix("/undo")
    token = request.path_params["token"]
    return web.page(
        request,
        "unsubscribe.html.j2",
        lang,
        token_page=True,
        form=state in ("ask", "done"),
        state=state,
        list_name=list_name,
        action=action,
        manage=request.scope.get("root_path", "") + MANAGE_ROUTE.format(token=token),
    )


async def undo(request: Request) -> Response:
    """Subscribe again from the confirmation page: at once, or by a confirmed opt-in."""
    web = web_of(request)
    token = request.path_params["token"]
    form = await read_form(request)
    try:
        web.csrf.check(request, form)
    except CsrfError:
        return web.form_expired(request, web.language(request))
    try:
        holder = await web.db_call(undo_by_token, token)
    except TokenError:
        return web.invalid_link(request)
    except NeedsConfirmation:
        holder = await web.db_call(_ask_again, token)
        web.outbox.notify()
        return _unsubscribe_page(request, holder, "mailed")
    return _unsubscribe_page(request, holder, "undone")


def _ask_again(session: Session, token: str) -> LinkHolder:
    """A double opt-in list's undo: a sign-up post, so a confirmation mail goes out."""
    holder = resolve(session, token)
    sub = holder.subscriber
    add_request(
        session, holder.mailing_list.slug, sub.email,
        name=sub.name, language=sub.language, source="undo",
    )  # fmt: skip
    return holder


async def manage(request: Request) -> Response:
    """The person's preferences: masked address, name, language, the lists they are on."""
    web = web_of(request)
    token = request.path_params["token"]
    saved, error = False, None
    if request.method == "POST":
        form = await read_form(request)
        try:
            web.csrf.check(request, form)
        except CsrfError:
            return web.form_expired(request, web.language(request))
        keep = set() if form.get("leave_all") else {k for k in form.getlist("keep") if k}
        language = text(form, "language", 35)
        try:
            await web.db_call(
                update_preferences,
                token,
                name=text(form, "name", 401),
                language=language if languages.resolve(language) else "",
                keep={str(k) for k in keep},
                timezone=chosen_zone(text(form, "timezone", FIELD_MAX)) or "",
            )
            saved = True
        except TokenError:
            return web.invalid_link(request)
        except BadInput as exc:
            error = str(exc.problems[0].message) if exc.problems else str(exc)
    try:
        holder, lists = await web.db_call(_preferences, token)
    except TokenError:
        return web.invalid_link(request)
    sub = holder.subscriber
    lang = web.language(request, sub.language, holder.mailing_list.language)
    return web.page(
        request,
        "manage.html.j2",
        lang,
        token_page=True,
        form=True,
        action=_action(request),
        address=masked(sub.email),
        name=sub.name or "",
        language=sub.language or "",
        languages=language_choices(sub.language),
        zones=zone_choices(lang),
        timezone=sub.timezone or "",
        lists=[{"slug": ml.slug, "name": ml.name} for ml in lists],
        saved=saved,
        error=error,
    )


def _preferences(session: Session, token: str) -> tuple[LinkHolder, list[MailingList]]:
    holder = resolve(session, token)
    assert holder.subscriber.id is not None
    return holder, active_lists(session, holder.subscriber.id)
