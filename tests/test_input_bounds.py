"""Every input has a bound: hostile or broken files are refused with their line, quickly."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from newsletter.cli import cli

HEADER = 'issue:\n  date: 2021-07\n  language: en\n  subject: "Bounds"\n  preheader: "p"\n'


def check(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", str(path), *args])
    return result.exit_code, result.output


def test_yaml_aliases_are_refused_at_the_first_alias(tmp_path: Path) -> None:
    paragraph = "x" * 100_000
    aliases = "\n".join("      - *p" for _ in range(2000))
    source = HEADER + f'articles:\n  - title: "Bomb"\n    paragraphs:\n      - &p "{paragraph}"\n'
    path = tmp_path / "bomb.yaml"
    path.write_text(source + aliases + "\n", encoding="utf-8")
    assert path.stat().st_size > 110_000
    assert check(path) == (
        2,
        f"{path}:10:9: YAML aliases (*name) are not allowed in issue files; write the text out\n"
        "1 file(s): 1 error(s), 0 warning(s)\n",
    )
    result = CliRunner().invoke(cli, ["render", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_an_anchor_without_an_alias_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "anchor.yaml"
    path.write_text(HEADER + 'articles:\n  - title: &t "Only once"\n', encoding="utf-8")
    assert check(path)[0] == 0


def test_an_issue_file_over_1_mb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(HEADER + f'notes:\n  - "{"x" * 1_100_000}"\n', encoding="utf-8")
    assert check(path) == (
        2,
        f"{path}: file is 1.1 MB; an issue file may be at most 1 MB\n"
        "1 file(s): 1 error(s), 0 warning(s)\n",
    )


def test_rendered_html_over_5_mb_is_an_error(tmp_path: Path) -> None:
    doc = yaml.safe_load(HEADER)
    doc["articles"] = [{"title": f"t{i}", "paragraphs": ["word " * 20]} for i in range(2500)]
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert path.stat().st_size < 1_000_000
    code, output = check(path)
    assert code == 2
    assert output.startswith(f"{path}: rendered HTML is 6.")
    assert output.endswith(
        " MB; the limit is 5 MB (Gmail already clips messages over 102 KB): split the issue\n"
        "1 file(s): 1 error(s), 0 warning(s)\n"
    )
    result = CliRunner().invoke(cli, ["render", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "rendered HTML is 6." in result.output
    assert not (tmp_path / "out").exists()


def test_a_nul_byte_is_located_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text(HEADER + 'notes:\n  - "a\0b"\n', encoding="utf-8")
    assert check(path) == (
        2,
        f"{path}:7:7: character U+0000 is not allowed in YAML (control characters are not "
        "allowed); delete it\n1 file(s): 1 error(s), 0 warning(s)\n",
    )


def test_a_top_level_list_says_what_an_issue_file_is(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- issue: x\n", encoding="utf-8")
    assert check(path) == (
        2,
        f"{path}:1:1: an issue file is a mapping that starts with `issue:` (see "
        "docs/issue-format.md), not a list\n1 file(s): 1 error(s), 0 warning(s)\n",
    )


# --- CSV --------------------------------------------------------------------------------------


def _import(cli_run, tmp_path: Path, text: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    assert cli_run("lists", "create", "news").exit_code == 0
    r = cli_run("subscribers", "import", str(path), "--list", "news", "--skip-invalid")
    listed = cli_run("subscribers", "list", "--format", "csv").output
    return r.exit_code, r.output, listed


def test_an_unterminated_quote_is_rejected_with_its_line(cli_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        'email,name\nanna@example.org,Anna\nbob@example.org,"Bob\n'
        "carl@example.org,Carl\ndora@example.org,Dora\n"
    )
    code, output, listed = _import(cli_run, tmp_path, text)
    assert (code, output) == (
        2,
        f"Error: {tmp_path / 'people.csv'}:3: the quote (\") that opens 'name' is never "
        "closed, so the lines after it were read into that field; close the quote and "
        "import again\n",
    )
    assert "example.org" not in listed


def test_a_quote_closed_rows_later_is_rejected_too(cli_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        'email;name\nanna@example.org;"Anna\nbob@example.org;Bob\n'
        'carl@example.org;"Carl"\ndora@example.org;Dora\n'
    )
    code, output, listed = _import(cli_run, tmp_path, text)
    assert (code, output) == (
        2,
        f"Error: {tmp_path / 'people.csv'}:2: the quote (\") that opens 'name' is never "
        "closed, so the lines after it were read into that field; close the quote and "
        "import again\n",
    )
    assert "example.org" not in listed


def test_a_quoted_field_over_two_lines_still_imports(cli_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        'email,name\nanna@example.org,"Anna\nMüller"\nbob@example.org,"Bob, see bob@example.org"\n'
    )
    code, output, listed = _import(cli_run, tmp_path, text)
    assert code == 0, output
    assert "Imported: 2 new," in output
    assert '"Anna\nMüller"' in listed
