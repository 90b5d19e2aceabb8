"""Errors from the OS and the database name the file or URL and say what to do.

The OS's and SQLite's own words name a temporary file or nothing at all
(``[Errno 28] No space left on device``, ``attempt to write a readonly
database``); each message here is the exact text a user reads.

Permission tests run the command in a process without the capabilities that
let root ignore file modes (``setpriv``), so they test the same thing as root
in CI and as a developer's own user.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import ROOT

from newsletter.cli import cli

pytestmark = pytest.mark.sqlite_only("the messages are about SQLite files and local folders")

# Root ignores file modes through these; dropped, it is held to them like anyone else.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _newsletter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "newsletter", *args]
    if os.geteuid() == 0:
        command = UNPRIVILEGED + command
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NEWSLETTER_DATABASE_URL", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _config(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{database}"\n', encoding="utf-8")
    return path


def _invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated SQLite database with a list ``news`` and one subscriber."""
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    path = tmp_path / "n.sqlite"
    config = str(_config(tmp_path, path))
    assert _invoke("--config", config, "lists", "create", "news")[0] == 0
    code, out = _invoke("--config", config, "subscribers", "add", "a@example.org", "--list", "news")
    assert code == 0, out
    return path


def test_a_config_file_that_is_not_utf8_names_its_line_and_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_bytes(b'[organisation]\nname = "ISA"\nsender_name = "Stadt M\xfcnster"\n')
    assert _invoke("--config", str(config), "lists", "list") == (
        2,
        f"Error: {config}:3:23: not UTF-8 text (byte 0xfc); TOML files are UTF-8: save it as "
        "UTF-8 in your editor, or convert it with iconv -f latin1 -t utf-8\n",
    )


def test_an_export_to_a_full_disk_names_the_file(tmp_path: Path, database: Path) -> None:
    config = str(tmp_path / "newsletter.toml")
    assert _invoke("--config", config, "subscribers", "export", "-o", "/dev/full") == (
        1,
        "Error: cannot write /dev/full: No space left on device; free some space, or write "
        "somewhere else, and run the command again\n",
    )


def test_an_export_into_a_read_only_folder_names_the_folder_and_leaves_nothing(
    tmp_path: Path, database: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "old.csv").write_text("the last backup\n", encoding="utf-8")
    folder.chmod(0o555)
    try:
        r = _newsletter("subscribers", "export", "-o", "backups/old.csv", cwd=tmp_path)
    finally:
        folder.chmod(0o755)
    assert (r.returncode, r.stderr) == (
        1,
        "Error: cannot write backups/old.csv: Permission denied; make the folder backups "
        "writable, or choose another folder\n",
    )
    assert [p.name for p in folder.iterdir()] == ["old.csv"]  # no temporary file left
    assert (folder / "old.csv").read_text(encoding="utf-8") == "the last backup\n"


def test_rendering_into_a_folder_that_is_not_writable_names_the_folder_not_a_temp_file(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rodir"
    out.mkdir()
    out.chmod(0o555)
    issue = tmp_path / "ok.yaml"
    issue.write_bytes((ROOT / "issues" / "2019-09.yaml").read_bytes())
    try:
        r = _newsletter("render", "ok.yaml", "-o", "rodir", "--format", "html", cwd=tmp_path)
    finally:
        out.chmod(0o755)
    assert (r.returncode, r.stderr) == (
        1,
        "Error: cannot write rodir/ok.html: Permission denied; make the folder rodir writable, "
        "or choose another folder\n",
    )
    assert list(out.iterdir()) == []


def test_a_read_only_database_is_named_with_what_to_do(tmp_path: Path, database: Path) -> None:
    database.chmod(0o444)
    try:
        r = _newsletter("lists", "create", "other", cwd=tmp_path)
    finally:
        database.chmod(0o644)
    assert (r.returncode, r.stderr) == (
        1,
        f"Error: database sqlite:///{database} is read-only for this user (attempt to write a "
        "readonly database): make the file and its folder writable, or point [database] url "
        "at a copy that is\n",
    )


def test_a_truncated_database_is_named_with_what_to_do(tmp_path: Path, database: Path) -> None:
    database.write_bytes(database.read_bytes()[:5000])  # a copy cut short
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    config = str(tmp_path / "newsletter.toml")
    assert _invoke("--config", config, "subscribers", "list") == (
        1,
        f"Error: database sqlite:///{database} is damaged or not an SQLite database (database "
        "disk image is malformed): it may be a truncated copy; restore it from a backup\n",
    )


def test_imap_on_a_closed_port_names_the_url_and_says_what_to_check(
    tmp_path: Path, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "secret")
    url = f"imap://bounces@127.0.0.1:{port}/INBOX"
    config = str(tmp_path / "newsletter.toml")
    assert _invoke("--config", config, "inbound", "process", url) == (
        1,
        f"Error: {url}: connection refused: no IMAP server listens on 127.0.0.1 port {port}; "
        "check the host and port in the URL and that the server is running\n",
    )
