"""WCAG 2.2 contrast, checked against published figures.

The examples are the ones WebAIM's contrast checker and the WCAG
Understanding document for 1.4.3 quote: #767676 is the lightest grey that
passes AA on white (4.54:1), #777777 just fails (4.48:1), pure red on white is
3.99:1 and pure blue 8.59:1.
"""

from __future__ import annotations

import pytest

from newsletter.render.colour import AA_NORMAL, RGBA, contrast, parse_colour, readable_on


@pytest.mark.parametrize(
    ("fg", "bg", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#767676", "#ffffff", 4.54),
        ("#777777", "#ffffff", 4.48),
        ("#ff0000", "#ffffff", 3.99),
        ("#0000ff", "#ffffff", 8.59),
        ("#00ff00", "#ffffff", 1.37),
        ("#ffffff", "#f18f01", 2.42),  # the Riverside button in issue 12
        ("#8ab4f8", "#f18f01", 1.15),  # its label in dark mode before the fix
        ("#595959", "#1b1f24", 2.36),  # ISA muted text on the dark card before the fix
    ],
)
def test_contrast_matches_published_examples(fg: str, bg: str, ratio: float) -> None:
    assert contrast(fg, bg) == pytest.approx(ratio, abs=0.01)  # checkers show 2 places
    assert contrast(fg, bg) == contrast(bg, fg)


def test_aa_boundary() -> None:
    assert contrast("#767676", "#fff") >= AA_NORMAL > contrast("#777", "#fff")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#fff", RGBA(255, 255, 255)),
        ("#A3111C", RGBA(163, 17, 28)),
        ("rgb(10, 20, 30)", RGBA(10, 20, 30)),
        ("rgba(0,0,0,.5)", RGBA(0, 0, 0, 0.5)),
        ("rgb(100% 0% 0% / 50%)", RGBA(255, 0, 0, 0.5)),
        ("white !important", RGBA(255, 255, 255)),
        ("transparent", RGBA(0, 0, 0, 0.0)),
        ("#11223380", RGBA(17, 34, 51, 128 / 255)),
        ("currentColor", None),
        ("linear-gradient(red, blue)", None),
        ("#12", None),
    ],
)
def test_parse_colour(text: str, expected: RGBA | None) -> None:
    assert parse_colour(text) == expected


def test_translucent_colour_is_judged_as_seen() -> None:
    half_black = parse_colour("rgba(0, 0, 0, 0.5)")
    assert half_black is not None
    assert half_black.over(RGBA(255, 255, 255)).hex == "#808080"


def test_readable_label_for_brand_colours() -> None:
    assert readable_on("#f18f01") == "#111111"
    assert readable_on("#0b6e4f") == "#ffffff"
    assert readable_on("#ffd400", dark="#1b1b1b") == "#1b1b1b"
    # Mid grey passes with neither; the better of the two is still chosen.
    assert readable_on("#808080") == "#111111"
