"""Start-up: each command imports what it needs and nothing else.

Counted in modules, not seconds, so the budget holds on a loaded machine:
``newsletter --help`` imports no command module, ``campaigns show`` and
``log`` load neither the ORM, Alembic, the render chain nor the SMTP stack.
When a budget fails, the message lists what is new; import it inside the
function that needs it (see ``cli/delivery.py``) or raise the budget with
a reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from database_helpers import Backend
from delivery_helpers import World

from newsletter.cli import cli
from newsletter.cli.app import COMMAND_HELP, LAZY_COMMANDS

PROBE = (
    "import os, sys\n"
    "from newsletter.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "with open(os.environ['MODULES_OUT'], 'w') as f:\n"
    "    f.write('\\n'.join(sorted(sys.modules)))\n"
)
# Neither the ORM nor migrations, rendering, composing or sending.
NOT_FOR_READING = (
    "sqlmodel",
    "pydantic",
    "alembic",
    "sqlalchemy.orm",
    "jinja2",
    "mjml",
    "css_inline",
    "markdown_it",
    "yaml",
    "email_validator",
    "dkim",
    "cryptography",
    "newsletter.render",
    "newsletter.message",
    "newsletter.transports",
    "newsletter.campaigns.tables",
    "newsletter.campaigns.store",
    "newsletter.campaigns.sender",
)


def imported(tmp_path: Path, *args: str) -> tuple[str, set[str]]:
    out = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MODULES_OUT": str(out), "COLUMNS": "100"},
        check=True,
    )
    return result.stdout, set(out.read_text().split())


def within(
    modules: set[str], budget: int, forbidden: tuple[str, ...], what: str, driver: int = 0
) -> None:
    """``budget`` is with SQLite's driver; ``driver`` is what another backend's driver adds."""
    loaded = sorted(m for m in forbidden if m in modules)
    assert not loaded, f"newsletter {what} imports {loaded}"
    budget += driver
    assert len(modules) <= budget, (
        f"newsletter {what} imports {len(modules)} modules, its budget is {budget}; packages: "
        + ", ".join(sorted({m.split(".")[0] for m in modules}))
    )


def test_help_imports_no_command_module(tmp_path: Path) -> None:
    out, modules = imported(tmp_path, "--help")
    assert "  render        Render issue files to HTML and plain text.\n" in out
    ours = sorted(m for m in modules if m.startswith("newsletter"))
    assert ours == ["newsletter", "newsletter.cli", "newsletter.cli.app", "newsletter.errors"]
    within(modules, 160, ("sqlalchemy", "rich", "newsletter.config"), "--help")


def test_help_lists_what_the_commands_say_about_themselves(tmp_path: Path) -> None:
    """The static table in cli/app.py against each command's docstring."""
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        real = cmd.get_short_help_str(1000)
        assert name in COMMAND_HELP, f"add {name!r}: {real!r} to COMMAND_HELP in cli/app.py"
        static = click.Command(name, help=COMMAND_HELP[name]).get_short_help_str(1000)
        assert static == real, f"COMMAND_HELP[{name!r}] in cli/app.py must be {real!r}"
    # With every command loaded (above), help is built from the commands themselves.
    loaded = CliRunner().invoke(cli, ["--help"], terminal_width=100).output
    assert imported(tmp_path, "--help")[0] == loaded


@pytest.fixture(scope="module")
def driver(backend: Backend) -> int:
    """How many more modules this run's database driver loads than SQLite's (psycopg: ~110).

    They are the driver's, not newsletter's, so they do not count against a budget.
    """
    if backend.name == "sqlite":
        return 0
    probe = "import sys, sqlalchemy as sa; sa.create_engine(sys.argv[1]); print(len(sys.modules))"
    counts = [
        int(
            subprocess.run(
                [sys.executable, "-c", probe, url], capture_output=True, text=True, check=True
            ).stdout
        )
        for url in ("sqlite://", "postgresql+psycopg://nobody@/none")
    ]
    return counts[1] - counts[0]


@pytest.fixture
def campaign(world: World) -> str:
    world.add(3)
    world.campaign()
    return world.settings.database_url


def test_campaigns_show_reads_without_the_orm(campaign: str, tmp_path: Path, driver: int) -> None:
    out, modules = imported(tmp_path, "--database", campaign, "campaigns", "show", "1")
    assert "  queued            3\n" in out
    if campaign.startswith("sqlite"):  # the embedded default: sqlite3, no SQLAlchemy at all
        within(modules, 260, ("sqlalchemy", "rich", *NOT_FOR_READING), "campaigns show")
    else:
        within(modules, 420, (*NOT_FOR_READING, "rich"), "campaigns show", driver)


@pytest.mark.sqlite_only("the light reader is for SQLite files")
def test_campaigns_show_takes_the_long_way_for_an_old_schema(world: World, tmp_path: Path) -> None:
    """Only a database at this code's schema revision is read without SQLAlchemy."""
    world.add(1)
    world.campaign()
    with world.db.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    url = world.settings.database_url
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "--database", url, "campaigns", "show", "1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    assert "schema revision 0001" in result.stderr and "newsletter db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_log_for_scripts_reads_without_the_orm(
    campaign: str, tmp_path: Path, fmt: str, driver: int
) -> None:
    out, modules = imported(tmp_path, "--database", campaign, "log", "1", "--format", fmt)
    assert out.count("user") == 3
    within(modules, 420, (*NOT_FOR_READING, "rich"), f"log --format {fmt}", driver)


def test_log_as_a_table_adds_only_rich(campaign: str, tmp_path: Path, driver: int) -> None:
    out, modules = imported(tmp_path, "--database", campaign, "log", "1")
    assert out.count("@example.com") == 3
    within(modules, 480, NOT_FOR_READING, "log", driver)
