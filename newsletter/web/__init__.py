"""The subscriber web: what a person reaches from a message or a sign-up form.

A Starlette app (:func:`newsletter.web.app.create_app`), served by uvicorn
with ``newsletter serve``: unsubscribe (page and RFC 8058 one-click),
preferences, double opt-in sign-up, and the public archive, whose static
form ``newsletter archive build`` writes (:mod:`newsletter.web.archive`).
Pages come from the theme's ``web/`` folder. Decisions live in the library
(:mod:`newsletter.subscribers.optout`, :mod:`newsletter.subscribers.optin`,
:mod:`newsletter.campaigns.notices`); the routes parse, call and answer.
"""
