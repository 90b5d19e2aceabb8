"""The theme's labels around an editor's words, without saying a thing twice.

The theme writes "Source:" before an article's source and "Registration"
on an event's sign-up link. An editor often writes the label already
("Source : Université de Genève", "Anmeldung per E-Mail") or writes a call
to action for the button ("S'inscrire"); prefixing those again reads
"Source: Source : Université de Genève" or "Registration: S'inscrire".
The rule (docs/issue-format.md): a label is left out when the editor's
words begin with it, compared without case and trailing colon; a link or
button with the editor's label shows that label alone.
"""

from __future__ import annotations

_TRAILING = " :：\u00a0\u202f"


def with_label(label: str, words: str, joined: str = "{label}: {value}") -> str:
    """``Quelle: AUMA``; ``Source : Université de Genève`` unchanged under ``Source :``.

    ``joined`` is the language's pattern (``label_value``) for a label without colon.
    """
    head = label.rstrip(_TRAILING)
    rest = words[len(head) :]
    if words.casefold().startswith(head.casefold()) and not rest[:1].isalnum():
        return words  # "Source : …", "Anmeldung per E-Mail"; not "Sourcebook …"
    if label.endswith("："):  # a full-width colon carries its own space
        return f"{label}{words}"
    if label.endswith(":"):
        return f"{label} {words}"
    return joined.format(label=label, value=words)
