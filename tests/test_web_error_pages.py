"""The error pages as a person sees them: the site's look, the browser's language, the status.

Before, a body over the limit got one line of English plain text ("Request body too large."),
a post the server could not read said the *link* was invalid, and a 405 lost its ``Allow``.
"""

from __future__ import annotations

import httpx
from error_states import error_states

from newsletter.web.pages import web_strings

# (title key, text key) of each state's page: what the person reads
EXPECTED = {
    "invalid-link": ("invalid_title", "invalid_text"),
    "bad-request": ("error_title", "bad_request"),
    "form-expired": ("error_title", "form_expired"),
    "not-found": ("error_title", "not_found"),
    "unknown-list": ("error_title", "not_found"),
    "method-not-allowed": ("error_title", "wrong_method"),
    "too-large": ("error_title", "too_large"),
    "too-many": ("error_title", "too_many"),
}
JUNK = ("&lt;", "&gt;", "&amp;", "</", "{{", "}}", "{%", "%}", "None", "undefined")

# The theme's look as the browser computed it: its one stylesheet, frame, fonts and colours.
_LOOK = """() => {
  const cs = e => e ? getComputedStyle(e) : null;
  const body = cs(document.body), main = cs(document.querySelector('main'));
  return {sheets: [...document.styleSheets].map(s => s.href && new URL(s.href).pathname),
          masthead: (document.querySelector('header.masthead') || {}).innerText || null,
          legal: !!document.querySelector('footer.legal'),
          body: [body.backgroundColor, body.color, body.fontFamily],
          main: main ? [main.maxWidth, main.backgroundColor] : null};
}"""


def test_every_error_page_is_german_in_the_sites_look_with_its_status(web, browser) -> None:
    web.add(6)
    web.serve(signups_per_client_per_hour=2)
    de = web_strings("de")
    context = browser.new_context(locale="de-DE")  # Accept-Language: de-DE,de
    try:
        page = context.new_page()
        page.goto(web.url + "/subscribe/news")
        site = page.evaluate(_LOOK)
        assert site["sheets"] == ["/static/style.css"] and site["masthead"], site
        seen = {}
        for name, (path, prepare, status) in error_states(web.token).items():
            response = page.goto(web.url + path)
            if prepare is not None:
                response = prepare(page)
            title, text = (de[k] for k in EXPECTED[name])
            body = page.inner_text("body")
            seen[name] = (
                response.status,
                response.headers.get("content-language"),
                page.evaluate("document.documentElement.lang"),
                page.inner_text("h1"),
                page.inner_text("main p"),
                page.title(),
            )
            assert seen[name] == (status, "de", "de", title, text, f"{title} · {site['masthead']}")
            assert page.evaluate(_LOOK) == site, name
            assert [j for j in JUNK if j in body] == [], f"{name}: {body!r}"
        assert [s[0] for s in seen.values()] == [400, 400, 403, 404, 404, 405, 413, 429]
    finally:
        context.close()


def test_error_answers_keep_their_headers_and_the_413_its_language(web) -> None:
    web.add(1)
    web.serve()
    with web.client(headers={"Accept-Language": "fr-CH, fr;q=0.9"}) as c:
        r = c.get(f"/unsubscribe/{web.token(1)}/undo")
        assert (r.status_code, r.headers["allow"]) == (405, "POST")
        assert '<html lang="fr"' in r.text
        big = b"List-Unsubscribe=One-Click&x=" + b"a" * 20000

        def chunks():  # no Content-Length: the limit counts what arrives
            yield big[:1000]
            yield big[1000:]

        for body in (big, chunks()):
            r = c.post(
                f"/unsubscribe/{web.token(1)}",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert r.status_code == 413
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert r.headers["content-language"] == "fr"
            assert r.headers["connection"] == "close"
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
            assert web_strings("fr")["too_large"] in r.text
    assert httpx.get(web.url + "/healthz").text == "ok\n"
