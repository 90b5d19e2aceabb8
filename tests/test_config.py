"""``newsletter.toml`` as a user meets it: every problem at once with its line; the reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import Settings, Smtp, load_settings, parse_settings
from newsletter.configschema import keys, sections
from newsletter.errors import ConfigError
from newsletter.tomlfile import key_lines

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "configuration.md"

BAD = """\
[organisation]
sender_email = "not an address"
about = \"\"\"
name = 1
\"\"\"

[delivery]
base_url = "javascript:alert(1)"

[smtp]
user = "news"
port = 99999
timeout = -1
pool = 0

[smpt]
host = "x"
"""


def problems(text: str, file: str = "newsletter.toml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, file)
    return str(info.value).splitlines()


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    cfg = tmp_path / "newsletter.toml"
    cfg.write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "lists", "list"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{cfg}:2: organisation.sender_email: must be an email address, got 'not an address': "
        "An email address must have an @-sign.",
        f"{cfg}:8: delivery.base_url: must be an https URL (http only for localhost), "
        "got 'javascript:alert(1)'",
        f"{cfg}:11: smtp.user: unknown key smtp.user; did you mean smtp.username?",
        f"{cfg}:12: smtp.port: must be 1 to 65535, got 99999",
        f"{cfg}:13: smtp.timeout: must be more than 0, got -1",
        f"{cfg}:14: smtp.pool: must be 1 to 100, got 0",
        f"{cfg}:16: smpt: unknown section [smpt]; did you mean [smtp]?",
    ]
    assert not (tmp_path / "newsletter.sqlite").exists()


def test_a_zero_timeout_stops_a_proof_before_anything_is_created(tmp_path: Path) -> None:
    cfg = tmp_path / "newsletter.toml"
    cfg.write_text('[delivery]\ntransport = "smtp"\n[smtp]\ntimeout = 0\n', encoding="utf-8")
    issue = ROOT / "issues" / "2021-07.yaml"
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "send", str(issue), "--to", "editor@example.org"]
    )
    assert (result.exit_code, result.output) == (
        2,
        f"Error: {cfg}:4: smtp.timeout: must be more than 0, got 0\n",
    )
    assert list(tmp_path.iterdir()) == [cfg]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('[delivery]\nbase_url = "http://example.org"', "must be an https URL"),
        ('[delivery]\nbase_url = "https://"', "must be an https URL"),
        ("[delivery]\nrate_per_minute = 1.5", "must be a whole number, got 1.5"),
        ('[delivery]\nverp = "yes"', "must be true or false, got 'yes'"),
        ('[delivery]\ntransport = "smpt"', 'must be "smtp", "maildir" or "dry-run"'),
        ("[smtp]\nport = true", "must be a whole number, got true"),
        ('[smtp]\nhost = "mail server"', "must be a host name or IP address"),
        ("[smtp]\ntimeout = nan", "must be a finite number"),
        ('[organisation]\nreply_to = "a@b@example.org"', "must be an email address"),
        ('[organisation]\nsender_name = "A\\nBcc: x@example.net"', "must be a single line"),
        ('[organisation.colours]\ntext = "black"', 'must be a colour like "#1f4e79"'),
        ('[dkim]\nkey_file = "dkim.pem"', "dkim.selector: is required with dkim.key_file"),
        ('[database]\nurl = "::::"', "must be a database URL like sqlite:///newsletter.sqlite"),
        ("[database]\nuri = 'x'", "unknown key database.uri; did you mean database.url?"),
        ('[delivery]\nhost = "x"', "unknown key delivery.host; did you mean smtp.host?"),
        ("smtp = 1", "smtp: must be a table ([smtp]), got int"),
    ],
)
def test_each_kind_of_bad_value(line: str, message: str) -> None:
    found = problems(line + "\n")
    assert len(found) == 1 and message in found[0], found
    assert found[0].startswith("newsletter.toml:")


def test_good_values_pass() -> None:
    s = parse_settings(
        '[delivery]\nbase_url = "http://localhost:8000/news"\nrate_per_second = 2\n'
        '[smtp]\nhost = "::1"\nport = 2525\ntimeout = 0.5\n[organisation]\n'
        'sender_email = "zoe@bücher.example.com"\nabout = "one\\ntwo"\n',
        "newsletter.toml",
    )
    assert s.delivery.base_url == "http://localhost:8000/news"
    assert (s.smtp.host, s.smtp.port, s.smtp.timeout) == ("::1", 2525, 0.5)
    assert s.delivery.rate_per_second == 2.0 and s.organisation.about == ("one", "two")


def test_smtp_security_defaults_to_starttls_when_a_username_is_set() -> None:
    assert parse_settings("", "f").smtp.security == "none"
    assert parse_settings('[smtp]\nusername = "news"\n', "f").smtp.security == "starttls"
    assert Smtp(username="news").security == "starttls"
    local = '[smtp]\nhost = "127.0.0.1"\nusername = "news"\nsecurity = "none"\n'
    assert parse_settings(local, "f").smtp.security == "none"
    found = problems('[smtp]\nhost = "mail.example.org"\nusername = "n"\nsecurity = "none"\n')
    assert found == [
        'newsletter.toml:4: smtp.security: "none" would send the password of smtp.username in '
        'clear to mail.example.org; use "starttls" or "tls" (plain text is allowed only to '
        "127.0.0.1 or ::1)"
    ]


def test_a_toml_syntax_error_names_line_and_column() -> None:
    assert problems("[smtp]\nport = = 1\n") == ["newsletter.toml:2:8: invalid TOML: Invalid value"]


def test_key_lines_skip_what_is_inside_strings_and_arrays() -> None:
    text = (
        '# a = 1\n[organisation]\nabout = [\n  "x = 1",\n  """\nlanguage = 2\n""",\n]\n'
        'colours.primary = \'#fff\'\nlanguage = "de" # trailing\n[ smtp ]\n"port" = 1\n'
    )
    assert key_lines(text) == {
        "organisation": 2,
        "organisation.about": 3,
        "organisation.colours.primary": 9,
        "organisation.language": 10,
        "smtp": 11,
        "smtp.port": 12,
    }


def test_the_shipped_configs_are_valid() -> None:
    load_settings(ROOT / "newsletter.toml")
    load_settings(ROOT / "examples" / "riverside" / "newsletter.toml")


def test_every_default_and_every_example_passes_its_own_check() -> None:
    for key in keys(Settings):
        if key.default not in (None, ()):
            key.setting.kind.convert(key.default)
        key.setting.kind.convert(key.setting.example)
    # and together, as one file written from the reference's examples
    tables: dict[str, list[str]] = {}
    sys.path.insert(0, str(ROOT / "scripts"))
    from gen_config_reference import toml_value

    for key in keys(Settings):
        table, _, bare = key.name.rpartition(".")
        tables.setdefault(table, []).append(f"{bare} = {toml_value(key.setting.example)}")
    text = "\n".join(f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items())
    parse_settings(text, "example.toml")


def test_configuration_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_configuration_reference_lists_every_key() -> None:
    doc = REFERENCE.read_text(encoding="utf-8")
    parts = doc.split("\n## ")
    by_table = {p.split("`")[1].strip("[]"): p for p in parts[1:]}
    assert list(by_table) == [name for name, _ in sections(Settings)]
    for key in keys(Settings):
        table, _, bare = key.name.rpartition(".")
        assert f"\n| `{bare}` | " in by_table[table], key.name
