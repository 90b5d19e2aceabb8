"""Event time zones: the time as written, the zone named in the edition's language, DST-aware."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_settings
from newsletter.errors import IssueError
from newsletter.issue.load import parse_issue
from newsletter.render import render_issue

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = load_settings(ROOT / "newsletter.toml")


def issue_with(language: str, events: str) -> str:
    return (
        f"issue:\n  date: 2021-03\n  language: {language}\n  subject: s\n  preheader: p\n"
        f"events:\n{events}"
    )


def event(day: str, zone: str | None = "Europe/Berlin", start: str = "14:00") -> str:
    tz = f"    timezone: {zone}\n" if zone else ""
    return f'  - title: T {day}\n    date: {day}\n    start: "{start}"\n    end: "17:00"\n{tz}'


# Berlin's clocks went forward on 28 March 2021 and back on 31 October 2021.
ACROSS_DST = event("2021-03-27") + event("2021-03-28") + event("2021-10-30") + event("2021-10-31")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "de",
            [
                "Samstag, 27. März 2021, 14:00–17:00 Uhr (Mitteleuropäische Normalzeit, UTC+1)",
                "Sonntag, 28. März 2021, 14:00–17:00 Uhr (Mitteleuropäische Sommerzeit, UTC+2)",
                "Samstag, 30. Oktober 2021, 14:00–17:00 Uhr (Mitteleuropäische Sommerzeit, UTC+2)",
                "Sonntag, 31. Oktober 2021, 14:00–17:00 Uhr (Mitteleuropäische Normalzeit, UTC+1)",
            ],
        ),
        (
            "en",
            [
                "Saturday, 27 March 2021, 14:00–17:00 (Central European Standard Time, UTC+1)",
                "Sunday, 28 March 2021, 14:00–17:00 (Central European Summer Time, UTC+2)",
                "Saturday, 30 October 2021, 14:00–17:00 (Central European Summer Time, UTC+2)",
                "Sunday, 31 October 2021, 14:00–17:00 (Central European Standard Time, UTC+1)",
            ],
        ),
        (
            "zh",
            [
                "2021年3月27日星期六，14:00–17:00（中欧标准时间，UTC+1）",
                "2021年3月28日星期日，14:00–17:00（中欧夏令时间，UTC+2）",
                "2021年10月30日星期六，14:00–17:00（中欧夏令时间，UTC+2）",
                "2021年10月31日星期日，14:00–17:00（中欧标准时间，UTC+1）",
            ],
        ),
    ],
)
def test_an_event_in_berlin_names_its_zone_across_the_dst_change(
    language: str, expected: list[str]
) -> None:
    issue, warnings = parse_issue(issue_with(language, ACROSS_DST), "x.yaml")
    assert warnings == []
    r = render_issue(issue, SETTINGS)
    for label in expected:
        assert label in r.html, label  # the HTML …
        assert label in " ".join(r.text.split()), label  # … and the text part say the same


def test_the_text_part_says_the_zone_on_the_when_line() -> None:
    issue, _ = parse_issue(issue_with("de", event("2021-07-13")), "x.yaml")
    text = render_issue(issue, SETTINGS).text
    assert (
        "Wann: Dienstag, 13. Juli 2021, 14:00–17:00 Uhr (Mitteleuropäische Sommerzeit,\nUTC+2)\n"
        in text
    )


def test_a_fixed_offset_is_shown_without_a_name() -> None:
    events = event("2021-03-28", '"+08:00"', "09:00") + event("2021-03-28", '"UTC+5:30"')
    issue, _ = parse_issue(issue_with("en", events), "x.yaml")
    html = render_issue(issue, SETTINGS).html
    assert "Sunday, 28 March 2021, 09:00–17:00 (UTC+8)" in html
    assert "Sunday, 28 March 2021, 14:00–17:00 (UTC+5:30)" in html


def test_an_event_without_a_zone_is_shown_as_before() -> None:
    issue, _ = parse_issue(issue_with("de", event("2021-06-29", None, "09:00")), "x.yaml")
    html = render_issue(issue, SETTINGS).html
    assert "Dienstag, 29. Juni 2021, 09:00–17:00 Uhr</p>" in html


def test_an_unknown_zone_is_an_error_with_a_suggestion() -> None:
    events = event("2021-03-28", "Europe/Berln") + event("2021-03-28", "Berlin")
    with pytest.raises(IssueError) as exc:
        parse_issue(issue_with("de", events), "x.yaml")
    lines = str(exc.value).splitlines()
    assert lines[0].startswith(
        "x.yaml:11:15: events[0].timezone: unknown time zone 'Europe/Berln'; "
        "did you mean 'Europe/Berlin'?"
    )
    assert (
        "events[1].timezone: unknown time zone 'Berlin'; did you mean 'Europe/Berlin'?"
        in (lines[1])
    )


def test_a_time_the_clocks_skip_is_a_warning() -> None:
    _, warnings = parse_issue(issue_with("de", event("2021-03-28", start="02:30")), "x.yaml")
    assert [str(w) for w in warnings] == [
        "x.yaml:9:12: warning: start 02:30 does not exist on 2021-03-28 in Europe/Berlin: "
        "the clocks skip that hour"
    ]


def test_check_reports_a_zone_without_a_time(tmp_path: Path) -> None:
    f = tmp_path / "2021-03.yaml"
    f.write_text(
        issue_with("de", "  - title: T\n    date: 2021-03-28\n    timezone: Europe/Berlin\n"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "newsletter.toml"), "check", str(f)])
    assert result.exit_code == 0
    assert f"{f}:9:15: warning: timezone without a start time says nothing" in result.output
