"""A link token signed with the right key but naming the wrong number of ids is refused.

Only the installation can sign tokens, but it signs several kinds with the same
key; a link must name exactly the ids of its kind, or a token made for one use
(or a future one with more parts) would be read as another.
"""

from __future__ import annotations

import pytest
from web_helpers import WebWorld

from newsletter.tokens import TokenError, ids, sign, token_key

KEY = token_key(b"test secret")


@pytest.mark.parametrize("parts", [(12,), (12, 3, 4), (12, 3, 4, 5)])
def test_a_token_with_more_or_fewer_parts_than_its_kind_is_refused(parts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenError, match="invalid or expired link token"):
        ids(KEY, "unsubscribe", sign(KEY, "unsubscribe", *parts), 2)
    assert ids(KEY, "unsubscribe", sign(KEY, "unsubscribe", 12, 3), 2) == [12, 3]


def test_the_web_answers_a_signed_token_with_an_extra_part_as_an_invalid_link(
    web: WebWorld,
) -> None:
    web.add(1)
    web.serve()
    key = token_key(web.db.secret)
    extra = {
        "unsubscribe": sign(key, "unsubscribe", 1, web.list_id, 7),
        "confirm": sign(key, "confirm", 1, 7),
    }
    with web.client() as c:
        for path in (f"/unsubscribe/{extra['unsubscribe']}", f"/manage/{extra['unsubscribe']}",
                     f"/confirm/{extra['confirm']}"):  # fmt: skip
            r = c.get(path)
            assert (r.status_code, "invalid or has expired" in r.text) == (400, True), path
        r = c.post(f"/unsubscribe/{extra['unsubscribe']}", data={"List-Unsubscribe": "One-Click"})
        assert (r.status_code, r.text) == (400, "invalid link\n")
        assert c.get(f"/unsubscribe/{web.token(1)}").status_code == 200  # the right one works
