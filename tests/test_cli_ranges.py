"""A command-line override accepts exactly what its key in the config file accepts.

``--smtp-port 99999`` used to be taken and wrapped to port 34463 by the socket
layer, although ``[smtp] port = 99999`` is refused; an override must be
refused the same way, before anything is opened (exit status 2).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from newsletter import config
from newsletter.cli import cli
from newsletter.configschema import Integer, setting_of

# option of a command → the (section class, key) it overrides
OVERRIDES = [
    (("campaigns", "send"), "smtp_port", config.Smtp, "port"),
    (("campaigns", "send"), "connections", config.Smtp, "pool"),
    (("campaigns", "resume"), "smtp_port", config.Smtp, "port"),
    (("send",), "smtp_port", config.Smtp, "port"),  # a proof
    (("send",), "connections", config.Smtp, "pool"),
    (("worker",), "concurrency", config.Workers, "concurrency"),
]


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)  # groups load lazily
        assert found is not None, path
        command = found
    return command


@pytest.mark.parametrize(("path", "option", "section", "key"), OVERRIDES)
def test_an_override_has_the_range_of_its_config_key(path, option, section, key) -> None:  # type: ignore[no-untyped-def]
    (param,) = [p for p in _command(path).params if p.name == option]
    (f,) = [f for f in fields(section) if f.name == key]
    meta = setting_of(f)
    assert meta is not None and isinstance(meta.kind, Integer)
    assert isinstance(param.type, click.IntRange)
    assert (param.type.min, param.type.max) == (meta.kind.minimum, meta.kind.maximum)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--smtp-port", "99999"], "'--smtp-port': 99999 is not in the range 1<=x<=65535."),
        (["--smtp-port", "0"], "'--smtp-port': 0 is not in the range 1<=x<=65535."),
        (["--connections", "101"], "'--connections': 101 is not in the range 1<=x<=100."),
    ],
)
def test_an_override_out_of_range_is_refused_before_anything_is_opened(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "newsletter.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/n.sqlite"\n', encoding="utf-8"
    )
    r = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "newsletter.toml"), "campaigns", "send", "1", *args]
    )
    assert r.exit_code == 2
    assert r.output.splitlines()[-1] == f"Error: Invalid value for {message}"
    assert not (tmp_path / "n.sqlite").exists()
