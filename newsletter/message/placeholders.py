"""Per-recipient placeholders left in the rendered issue for ``compose`` to fill.

Rendering happens once per issue; only these tokens differ between
recipients. They use ASCII letters, digits and ``%`` and ``_`` only, so they
survive quoted-printable unchanged and can be replaced in the encoded bytes.
No URL other than the unsubscribe and the manage link is ever personalised
(both carry the same unsubscribe token, nothing else): that is what keeps
the newsletter free of click tracking.
"""

UNSUBSCRIBE_URL = "%%UNSUBSCRIBE_URL%%"
# The preferences page (name, language, lists) of the same token.
MANAGE_URL = "%%MANAGE_URL%%"
RECIPIENT_NAME = "%%RECIPIENT_NAME%%"
# The whole salutation ("Hallo Anna Müller," / "Hallo,"), so a subscriber
# without a name never reads "Hallo ,": compose picks the localised form.
GREETING = "%%GREETING%%"

ALL = (UNSUBSCRIBE_URL, MANAGE_URL, RECIPIENT_NAME, GREETING)
