"""Property tests (hypothesis) of the small pieces with an inverse or an invariant.

Each test's name is the invariant. Quoted-printable has its own module
(test_qp_properties.py).
"""

from __future__ import annotations

import json
import tomllib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from newsletter.render.wrap import _pieces, display_width, wrap
from newsletter.tabular import ESCAPABLE_START, escape_formula, unescape_formula
from newsletter.tokens import TokenError, sign, token_key, verify
from newsletter.tomlfile import key_lines

# no example database: the suite leaves nothing behind in the checkout
FAST = settings(deadline=None, max_examples=200, database=None)
KEY = token_key(b"property secret")

# --- tokens -----------------------------------------------------------------------------------

PART = st.one_of(
    st.integers(min_value=0, max_value=10**18),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
)
PURPOSE = st.sampled_from(["unsubscribe", "bounce", "confirm", "csrf"])


@FAST
@given(PURPOSE, st.lists(PART, min_size=1, max_size=4))
def test_a_signed_token_verifies_to_its_parts(purpose: str, parts: list[int | str]) -> None:
    token = sign(KEY, purpose, *parts)
    assert verify(KEY, purpose, token) == [str(p) for p in parts]
    assert verify(KEY, purpose, token.upper()) == [str(p) for p in parts]  # MTAs fold case


@FAST
@given(PURPOSE, st.lists(PART, min_size=1, max_size=4), st.data())
def test_any_altered_token_is_refused(purpose: str, parts: list[int | str], data) -> None:  # type: ignore[no-untyped-def]
    token = sign(KEY, purpose, *parts)
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="position")
    how = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="how")
    c = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"), label="char")
    if how == "replace":
        assume(token[i] != c)
        altered = token[:i] + c + token[i + 1 :]
    elif how == "delete":
        altered = token[:i] + token[i + 1 :]
    else:
        altered = token[:i] + c + token[i:]
    with pytest.raises(TokenError, match="invalid or expired link token"):
        verify(KEY, purpose, altered)


@FAST
@given(st.lists(PART, min_size=1, max_size=3), PURPOSE, PURPOSE)
def test_a_token_of_one_purpose_is_refused_for_another(parts, signed_for, used_for) -> None:  # type: ignore[no-untyped-def]
    assume(signed_for != used_for)
    with pytest.raises(TokenError):
        verify(KEY, used_for, sign(KEY, signed_for, *parts))


# --- the CSV formula escape ---------------------------------------------------------------------

CELL = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "a", " ", "1"]), max_size=6).map(
        "".join
    ),
)


@FAST
@given(CELL)
def test_formula_escape_then_unescape_is_the_identity(text: str) -> None:
    assert unescape_formula(escape_formula(text)) == text


@FAST
@given(CELL)
def test_an_escaped_cell_never_starts_a_formula(text: str) -> None:
    escaped = escape_formula(text)
    assert escaped[:1] not in set("=+-@\t\r")
    if text[:1] not in ESCAPABLE_START:
        assert escaped == text  # the writer's shortcut for other first characters holds


# --- text wrapping ------------------------------------------------------------------------------

WORDS = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij", min_size=1, max_size=14),
        st.sampled_from(["Nürnberg", "„Fit", "55“", "https://example.org/a/very/long/path/x"]),
        st.text(alphabet="日本語中文漢字かなカナ한국어", min_size=1, max_size=30),
        st.sampled_from(["，", "。", "「引用」", "（注）", "……", "“", "”", "—"]),
        st.just(" "),
    ),
    max_size=40,
).map("".join)


@FAST
@given(WORDS, st.integers(min_value=8, max_value=80), st.booleans(), st.sampled_from(["", "  "]))
def test_wrapping_never_exceeds_its_width_but_for_one_unbreakable_piece(
    text: str, width: int, cjk: bool, indent: str
) -> None:
    for line in wrap(text, width, indent, cjk=cjk):
        if display_width(line, cjk) > width:
            assert len(_pieces(line, cjk)) == 1, (line, width)


@FAST
@given(WORDS, st.integers(min_value=8, max_value=80), st.booleans())
def test_wrapping_keeps_every_character_in_order(text: str, width: int, cjk: bool) -> None:
    lines = wrap(text, width, cjk=cjk)
    assert "".join("".join(lines).split()) == "".join(text.split())
    assert all(line == line.rstrip() and line.strip() for line in lines)


# --- TOML key lines -----------------------------------------------------------------------------

BARE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
VALUE = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["true", "1.5"]),
    st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=12).map(
        lambda s: json.dumps(s, ensure_ascii=False)
    ),
    st.sampled_from([
        "'a literal with \"quotes\" and a # hash'",
        '"""\nmulti = line\n[not.a.table]\nkey = 1\n"""',
        "'''\n[fake]\nx = 2\n'''",
        "[\n  1,\n  2, # comment\n  3,\n]",
        '{ inner = 1, other = "x = y" }',
        '"a \\" quote"',
    ]),
)  # fmt: skip
COMMENT = st.sampled_from(["", "  # a comment", "  # [table] x = 1"])


@FAST
@given(
    st.dictionaries(
        BARE,
        st.dictionaries(BARE, st.tuples(VALUE, COMMENT, st.booleans()), min_size=1, max_size=5),
        max_size=4,
    ),
    st.dictionaries(BARE, st.tuples(VALUE, COMMENT, st.booleans()), max_size=3),
)
def test_key_lines_names_the_line_every_key_is_written_on(tables, top) -> None:  # type: ignore[no-untyped-def]
    assume(not set(tables) & set(top))
    doc = ""
    expected: dict[str, int] = {}

    def write(prefix: str, keys: dict) -> str:  # type: ignore[type-arg]
        text = ""
        for name, (value, comment, blank) in keys.items():
            text += "\n" if blank else ""
            expected[prefix + name] = (doc + text).count("\n") + 1
            text += f"{name} = {value}{comment}\n"
        return text

    doc += write("", top)
    for table, keys in tables.items():
        doc += "\n"
        expected[table] = doc.count("\n") + 1
        doc += f"[{table}]\n"
        doc += write(f"{table}.", keys)
    tomllib.loads(doc)  # the document is valid TOML
    found = key_lines(doc)
    for key, line in expected.items():
        assert found.get(key) == line, (key, doc)
