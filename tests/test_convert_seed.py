"""The ISA archive converter: its text repairs, and that it reproduces the committed issues."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_seed", ROOT / "scripts/convert_seed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["convert_seed"] = module
    spec.loader.exec_module(module)
    return module


cs = _load_script()
# The converter puts scripts/ on sys.path for its helper modules; the tests use them directly.
st = importlib.import_module("seed_text")
sp = importlib.import_module("seed_parse")
SEED = cs.default_seed()


def lines(*texts: str) -> list:
    return [cs.Line(n, t) for n, t in enumerate(texts, start=1)]


# --- dehyphenation ----------------------------------------------------------------------------

VOCAB = st.vocabulary("Anstrengungen Industriestädteallianz Magnetschwebebahn betonte Startups")


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ("Globale Anstren-gungen sind nötig", "Globale Anstrengungen sind nötig"),
        ("wie Kreislauf-wirtschaft und", "wie Kreislaufwirtschaft und"),
        ("Schneidewind beton-te, dass", "Schneidewind betonte, dass"),
        ("die erste Magnet-schwebebahn", "die erste Magnetschwebebahn"),
        ("die Industrie-städteallianz (ISA)", "die Industriestädteallianz (ISA)"),
        ("Asien-Pazifik-Handels-abkommen", "Asien-Pazifik-Handelsabkommen"),
        ("Rhein-Main-Ge-biets", "Rhein-Main-Gebiets"),
        ("ein großes know- how", "ein großes know-how"),
        ("die Corona- Pandemie", "die Corona-Pandemie"),
    ],
)
def test_dehyphenate_joins_line_break_hyphens(seed, expected):
    assert st.dehyphenate(seed, VOCAB) == expected


@pytest.mark.parametrize(
    "real",
    [
        "ISA-Newsletter in der Corona-Krise",
        "E-Mobilität und Hochgeschwindigkeits-Personenbeförderung",
        "der deutsch-chinesischen und chinesisch-deutsche Zusammenarbeit",
        "ein Win-win-Modell und kein Win-lose-Modell, diese win-win-Chancen",
        "die sino-europäische Kooperation",
        "welche Erfolgs-/Pilotprojekte",
        "die klima- und umweltpolitischen Schwerpunkte",
        "Markenwahrnehmung, -kommunikation und -pflege",
        "der US-amerikanischen Gesamtbevölkerung",
        "Foshan Sanlongwan High-end Innovation Cluster",
        "Baden-Württemberg und Start-ups",
        "per E-Mail unter isa@pks-gmbh.net an",
        "automatica-Messe ([https://automatica-munich.com/de/](https://automatica-munich.com/de/))",
    ],
)
def test_dehyphenate_keeps_real_hyphens(real):
    assert st.dehyphenate(real, VOCAB) == real


def test_dehyphenate_uses_the_seed_vocabulary():
    vocab = st.vocabulary("Anstrengungen. Ein Nano-faser-Test, noch ein Nano-faser-Test.")
    assert "anstrengungen" in vocab and "nano-faser" in vocab
    # the joined word occurs elsewhere: join; the hyphenated pair recurs, the joined never: keep
    assert st.dehyphenate("Anstren-gungen mit Nano-faser", vocab) == "Anstrengungen mit Nano-faser"
    # a hyphen seen once, joined form unknown: a line-break artefact by default
    assert st.dehyphenate("Kreislauf-wirtschaft", vocab) == "Kreislaufwirtschaft"


def test_dehyphenate_reports_every_decision():
    report = cs.Report()
    st.dehyphenate("Anstren-gungen und deutsch-chinesische", VOCAB, report, where=54)
    assert [e.split()[0] for e in report.entries] == ["hyphen/join", "hyphen/keep"]
    assert "54" in report.entries[0] and "Anstren-gungen" in report.entries[0]


# --- joining lines ----------------------------------------------------------------------------


def test_join_title_joins_split_titles():
    assert st.join_title(["ISA-Videokonferenz der", "Wirtschaftsförderungen und Beiräte"]) == (
        "ISA-Videokonferenz der Wirtschaftsförderungen und Beiräte"
    )
    assert st.join_title(["„… PRAGMATISCH UND", "ÄUSSERST EFFIZIENT“"]) == (
        "„… PRAGMATISCH UND ÄUSSERST EFFIZIENT“"
    )


def test_join_lines_rejoins_a_word_split_at_the_line_end():
    joined = st.join_lines(["Die Chinesisch-Deutsche Industriestädte-", "allianz (ISA) hat"])
    assert joined == "Die Chinesisch-Deutsche Industriestädte-allianz (ISA) hat"
    assert (
        st.dehyphenate(joined, VOCAB) == "Die Chinesisch-Deutsche Industriestädteallianz (ISA) hat"
    )


@pytest.mark.parametrize(
    ("prev", "nxt", "expected"),
    [
        (
            "bei aller Fähigkeit zur Selbstkritik in unserer",
            "wirtschaftlichen Zusammenarbeit",
            True,
        ),
        ("mit einem Finanzvolumen von", "1,4 Billionen US-Dollar", True),
        ("schon gar nicht für das", "Exportland Deutschland, das", True),
        ("bereits reagiert –", "schnell, klug, vorausschauend", True),
        ("Die Chinesisch-Deutsche Industriestädte-", "allianz (ISA) hat", True),
        ("wenn es um B2B-Kontakte geht.", "Auch in China haben", False),
        ("Liebe ISA-Freunde,", "unser Städtebündnis hat", False),
        ("Die neuen Termine sind:", "Montag, 7. Dezember 2020", False),
    ],
)
def test_is_continuation(prev, nxt, expected):
    assert st.is_continuation(prev, nxt) is expected


# --- link labels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("Lesen Sie mehr", "Lesen Sie mehr"),
        ("Lesen Sie mehr: Link", "Lesen Sie mehr"),
        ("Hier können Sie sich anmelden: Link", "Hier können Sie sich anmelden"),
        ("Link", "Link"),
        ("Zur Umfrage geht es hier", "Zur Umfrage geht es hier"),
        ("Pressemeldung", "Pressemeldung"),
        ("Weitere Informationen", "Weitere Informationen"),
        ("Zum Nachhören", "Zum Nachhören"),
        ("Lesen Sie hier das vollständige Interview", "Lesen Sie hier das vollständige Interview"),
        ("Lesen Sie den ganzen Bericht", "Lesen Sie den ganzen Bericht"),
        ("Ergebnis der Umfrage", "Ergebnis der Umfrage"),
        (
            "Den vollständigen Briefwechsel lesen Sie hier",
            "Den vollständigen Briefwechsel lesen Sie hier",
        ),
        ("Hier geht es zur Agenda", "Hier geht es zur Agenda"),
    ],
)
def test_link_label_detects_labels_without_url(line, label):
    assert st.link_label(line) == label


@pytest.mark.parametrize(
    "prose",
    [
        "Teilnahme auch via Zoom-Konferenz möglich!",
        "Den vollständigen Text der Begrüßungsrede von Staatssekretär a. D. Friedhelm Ost"
        " finden Sie hier.",
        "Lesen Sie mehr über die ISA in unserem Bericht.",
        "Die neuen Termine sind:",
    ],
)
def test_link_label_leaves_prose_alone(prose):
    assert st.link_label(prose) is None


# --- sections ---------------------------------------------------------------------------------


def test_split_months_separates_preamble_and_issues():
    text = "Über die ISA\n\nJuli 2021\n\nLiebe …\n\xa0\nTitel\n\nJuni 2021\n\nText"
    preamble, months = cs.split_months(text)
    assert [ln.text for ln in preamble] == ["Über die ISA", ""]
    assert [m.slug for m in months] == ["2021-07", "2021-06"]
    assert months[0].lines[2].text == "\xa0"  # the separator survives splitting


def test_split_blocks_splits_at_nbsp_lines_only():
    block = lines("Liebe …", "", "\xa0", "", "Titel", "", "", "Text", "\xa0", "")
    blocks = cs.split_blocks(block)
    assert [[ln.text for ln in b if ln.text] for b in blocks] == [["Liebe …"], ["Titel", "Text"]]


def test_editorial_splits_closing_and_signatories():
    parser = cs.Parser("")
    ed = parser.editorial(
        lines(
            "Liebe Mitglieder, Freunde und Förderer der ISA,",
            "",
            "die starke …",
            "",
            "Liebe ISA-Freunde,",
            "unser Städtebündnis …",
            "",
            "Bleiben Sie gesund!",
            "",
            "Herzliche Grüße",
            "",
            "Friedhelm Ost, Staatssekretär a. D.",
            "",
            "Ernst Schwanhold Staatsminister a. D.",
        )
    )
    assert ed == {
        "salutation": "Liebe Mitglieder, Freunde und Förderer der ISA,",
        "paragraphs": ["die starke …", "Liebe ISA-Freunde,", "unser Städtebündnis …"],
        "closing": ["Bleiben Sie gesund!", "Herzliche Grüße"],
        "signatories": [
            {"name": "Friedhelm Ost", "title": "Staatssekretär a. D."},
            {"name": "Ernst Schwanhold", "title": "Staatsminister a. D."},
        ],
    }


def test_article_files_links_source_and_city_sections():
    parser = cs.Parser("")
    art = parser.article(
        lines(
            "Die neuen Mitgliedsstädte der ISA",
            "",
            "BAODING 保定市 (Provinz Hebei)",
            "",
            "„Baoding bedeutet Schutz und Ruhe“",
            "",
            "",
            "Gesamtfläche: 19.000 km2",
            "Gesamtbevölkerung: 9,39 Mio. Einwohner",
            "",
            "Quelle: AUMA e.V.",
            "",
            "Lesen Sie mehr: Link",
        )
    )
    city = art["sections"][0]
    assert city["title"] == "BAODING 保定市 (Provinz Hebei)"
    assert city["paragraphs"] == ["„Baoding bedeutet Schutz und Ruhe“"]
    assert city["facts"] == [
        {"label": "Gesamtfläche", "value": "19.000 km²"},
        {"label": "Gesamtbevölkerung", "value": "9,39 Mio. Einwohner"},
    ]
    assert city["source"] == "AUMA e.V."
    assert city["links"] == [{"label": "Lesen Sie mehr"}]


def test_extract_speakers_keeps_the_sentence():
    block = lines(
        "Einladung", "", "Die ISA lädt ein.", "", "Die Referentinnen", "", "Sabine Dietlmeier",
        "Geschäftsführerin, German Industry & Commerce", "Greater China GmbH", "", "und", "",
        "Ang Ye", "Team Leader", "", "werden einen Überblick geben.",
    )  # fmt: skip
    rest, speakers = sp.extract_speakers(block)
    assert [(name, [ln.text for ln in role]) for name, role in speakers] == [
        (
            "Sabine Dietlmeier",
            ["Geschäftsführerin, German Industry & Commerce", "Greater China GmbH"],
        ),
        ("Ang Ye", ["Team Leader"]),
    ]
    assert [ln.text for ln in rest if ln.text] == [
        "Einladung", "Die ISA lädt ein.", "Die Referentinnen werden einen Überblick geben.",
    ]  # fmt: skip


def test_merge_duplicates_keeps_one_article_with_both_labels():
    art = {"title": "Bericht", "paragraphs": ["„In aufstrebenden …“"]}
    merged = sp.merge_duplicates(
        [
            {**art, "links": [{"label": "Lesen Sie hier den Bericht"}]},
            {**art, "links": [{"label": "Lesen Sie hier das vollständige Interview"}]},
        ],
        None,
    )
    assert merged == [
        {
            **art,
            "links": [
                {"label": "Lesen Sie hier den Bericht"},
                {"label": "Lesen Sie hier das vollständige Interview"},
            ],
        }
    ]


# --- the real archive -------------------------------------------------------------------------


def test_convert_reproduces_the_committed_issues():
    files = cs.convert(SEED.read_text(encoding="utf-8"))
    assert len(files) == 18
    for slug, text in files.items():
        committed = ROOT / "issues" / f"{slug}.yaml"
        assert committed.read_text(encoding="utf-8") == text, (
            f"{committed} is stale: rerun the script"
        )


def test_preheaders_are_short():
    for slug, text in cs.PREHEADERS.items():
        assert len(text) <= 100, slug
