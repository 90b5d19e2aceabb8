"""How a person in a browser reaches each error page of the web app (for the Chromium tests).

Each state is ``(path, prepare, status)``: open ``path``, then ``prepare(page)`` (if any)
does what the person did; the page then shows the error with ``status``. Every prepare
returns the response of the navigation it caused, so a test can read its status.
The ``too-many`` state uses up the client's sign-up posts: run it after any state that
signs up.
"""

from __future__ import annotations

from typing import Any

# A form the browser sends by itself (no validation, as a stale or tampered page would).
_SEND = "form => HTMLFormElement.prototype.submit.call(form)"


def _post_subscribe_form(page: Any, script: str) -> Any:
    form = page.locator("form").first
    form.evaluate(script)
    with page.expect_navigation() as nav:
        form.evaluate(_SEND)
    return nav.value


def too_many_fields(page: Any) -> Any:
    """400: a post with more fields than any form of ours has (a tampered or broken page)."""
    add = """form => { for (let i = 0; i < 25; i++) {
        const f = document.createElement('input');
        f.type = 'hidden'; f.name = 'extra' + i; f.value = 'x'; form.appendChild(f); } }"""
    return _post_subscribe_form(page, add)


def too_large(page: Any) -> Any:
    """413: a name far over the body limit (the page's maxlength bypassed)."""
    return _post_subscribe_form(page, "form => { form.name.value = 'x'.repeat(40000); }")


def too_many_sign_ups(page: Any) -> Any:
    """429: the same client signs up until the per-client limit refuses it."""
    url = page.url
    for i in range(200):
        page.fill("#email", f"reader{i}@example.org")
        with page.expect_navigation() as nav:
            page.locator("button[type=submit]").click()
        if nav.value.status == 429:
            return nav.value
        page.goto(url)
    raise AssertionError("the sign-up limit never answered 429")


def expired_form(page: Any) -> Any:
    """403: the form's cookie is gone (a new browser session) when the form is sent."""
    page.context.clear_cookies()
    with page.expect_navigation() as nav:
        page.locator("button:has-text('Unsubscribe'), button:has-text('Abmelden')").first.click()
    return nav.value


def error_states(token: Any) -> dict[str, tuple[str, Any, int]]:
    """Every error page a person can reach, by name; ``token(n)`` is subscriber n's link."""
    return {
        "invalid-link": ("/unsubscribe/not-a-token", None, 400),
        "bad-request": ("/subscribe/news", too_many_fields, 400),
        "form-expired": (f"/unsubscribe/{token(5)}", expired_form, 403),
        "not-found": ("/no/such/page", None, 404),
        "unknown-list": ("/subscribe/no-such-list", None, 404),
        "method-not-allowed": (f"/unsubscribe/{token(1)}/undo", None, 405),
        "too-large": ("/subscribe/news", too_large, 413),
        "too-many": ("/subscribe/news", too_many_sign_ups, 429),
    }
