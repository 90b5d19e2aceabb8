"""Property tests of quoted-printable with placeholders (hypothesis).

The composer encodes a rendered issue once, then replaces each placeholder in
the encoded bytes per recipient. That is only correct while the encoder keeps
every placeholder whole on a line of its own and every line, after any
substitution, within RFC 2045's 76 characters.
"""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.message import placeholders
from newsletter.message.qp import MAX_LINE, encode, encode_value

# Text as issues have it: mostly words, some umlauts, CJK, blanks, dots and "From " at line
# starts, "=" and "%", line breaks of all kinds, and placeholders anywhere.
_CHUNK = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(
        ["From ", ".", " ", "\t", "=", "%", "%%", "\n", "\r\n", "\r", "ü", "日本", "x" * 80]
    ),
    st.sampled_from(placeholders.ALL),
)
TEXT = st.lists(_CHUNK, max_size=30).map("".join)
VALUE = st.one_of(
    st.sampled_from(["", "Anna", "https://example.org/u/12-3-abc", ".dot", "From me", "x" * 90]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=100),
)
# no example database: the suite leaves nothing behind in the checkout
FAST = settings(deadline=None, max_examples=150, database=None)


def _decode(encoded: str) -> str:
    return binascii.a2b_qp(encoded.encode("ascii")).decode("utf-8").replace("\r\n", "\n")


def _lines_fit(encoded: str) -> bool:
    return all(len(line) <= MAX_LINE for line in encoded.split("\r\n"))


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@FAST
@given(TEXT)
def test_quoted_printable_never_splits_a_placeholder_and_decodes_to_the_input(text: str) -> None:
    encoded = encode(text, placeholders.ALL)
    assert encoded.isascii()
    for name in placeholders.ALL:
        # whole, and each on its own line: at a line start, followed by a soft break or the end
        assert encoded.count(name) == _normalised(text).count(name)
        for line in encoded.split("\r\n"):
            if name in line:
                assert line in (name, name + "="), line
    assert _lines_fit(encoded)
    assert _decode(encoded) == _normalised(text)


@FAST
@given(TEXT, st.fixed_dictionaries({name: VALUE for name in placeholders.ALL}))
def test_any_substituted_value_keeps_lines_within_76_and_decodes_to_the_value(
    text: str, values: dict[str, str]
) -> None:
    encoded = encode(text, placeholders.ALL)
    for name, value in values.items():
        encoded = encoded.replace(name, encode_value(value))
    assert _lines_fit(encoded)
    expected = _normalised(text)
    for name, value in values.items():
        expected = expected.replace(name, _normalised(value))
    assert _decode(encoded) == expected
