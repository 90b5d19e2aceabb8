"""A quote opened on the last line of a CSV file is an error, with or without a final newline.

Python's csv module reads to the end of the file inside the quote without
complaint, so without this check the last row would be imported with a line
break in its name, or rows after the quote would be read into one field.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"], ids=["no-newline", "lf", "crlf"])
def test_a_quote_opened_on_the_last_line_is_never_imported(
    cli_run, tmp_path: Path, ending: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "people.csv"
    path.write_bytes(f'email,name\nanna@example.org,Anna\nbob@example.org,"Bob{ending}'.encode())
    assert cli_run("lists", "create", "news").exit_code == 0
    r = cli_run("subscribers", "import", str(path), "--list", "news", "--skip-invalid")
    assert (r.exit_code, r.output) == (
        2,
        f"Error: {path}:3: the quote (\") that opens 'name' is never closed, so the lines "
        "after it were read into that field; close the quote and import again\n",
    )
    assert "example.org" not in cli_run("subscribers", "list", "--format", "csv").output


def test_a_closed_quote_on_the_last_line_without_a_newline_imports(cli_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "people.csv"
    path.write_text('email,name\nanna@example.org,Anna\nbob@example.org,"Bob, Jr."', "utf-8")
    assert cli_run("lists", "create", "news").exit_code == 0
    r = cli_run("subscribers", "import", str(path), "--list", "news")
    assert r.exit_code == 0, r.output
    listed = cli_run("subscribers", "list", "--format", "csv").output
    assert "bob@example.org" in listed and "Bob, Jr." in listed
