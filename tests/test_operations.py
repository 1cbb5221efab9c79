"""docs/OPERATIONS.md's example files hold: each systemd unit starts an `artisan` command with
options that exist, and the example environment is one the Settings object accepts."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from artisan.cli.main import app
from artisan.config import REPO_ROOT, load_settings

UNITS = sorted((REPO_ROOT / "docs" / "ops" / "systemd").glob("*.service"))
ENV_EXAMPLE = REPO_ROOT / "docs" / "ops" / "systemd" / "artisan.env.example"


def _exec_start(unit: Path) -> list[str]:
    lines = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit.name}: one ExecStart"
    words = shlex.split(lines[0].removeprefix("ExecStart="))
    assert words[0].endswith("/artisan"), f"{unit.name} starts {words[0]}"
    # systemd expands ${VAR} from the environment files: any number parses as a port.
    return ["8600" if w.startswith("${") else w for w in words[1:]]


def test_the_guide_links_every_unit() -> None:
    guide = (REPO_ROOT / "docs" / "OPERATIONS.md").read_text()
    assert len(UNITS) == 4
    for unit in UNITS:
        assert f"(ops/systemd/{unit.name})" in guide


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_runs_a_command_and_options_that_exist(unit: Path) -> None:
    command: Any = typer.main.get_command(app)
    words = _exec_start(unit)
    path = ["artisan"]
    while hasattr(command, "get_command"):  # a group: the next word names its subcommand
        name = words.pop(0)
        command = command.get_command(command.make_context(path[-1], [], resilient_parsing=True),
                                      name)  # fmt: skip
        assert command is not None, f"{unit.name}: no command {' '.join([*path[1:], name])}"
        path.append(name)
    # Parsing checks every option and value against the command's declaration, without running.
    leaf = command.make_context(path[-1], words)
    assert leaf.args == [], f"{unit.name}: unexpected arguments {leaf.args}"


def test_the_example_environment_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.chain_id == 1 and settings.finality_depth == 64
    assert settings.read_database_url.startswith("postgresql://artisan_ro@")
