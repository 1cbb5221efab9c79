"""`make demo` runs end to end: every stage's own checks pass against real components."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from artisan.config import load_settings
from artisan.demo import run_demo
from artisan.storage.database import Database


def test_demo_runs_every_stage(database: Database, tmp_path: Path) -> None:
    """The demo deploys, executes, settles, curates and pays rewards, checking each step."""
    settings = load_settings(
        database_url=database.url, data_dir=tmp_path, deployment_file=tmp_path / "deployment.json"
    )
    state = run_demo(settings, Console(file=io.StringIO()))
    assert len(state.executions) == 4
    assert (tmp_path / "deployment.json").exists()
