"""`make demo` runs end to end: every stage's own checks pass against real components."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console

from artisan.config import load_settings
from artisan.demo.run import demo_database_name, run_demo
from artisan.storage.database import Database


def test_demo_runs_every_stage(database: Database, tmp_path: Path) -> None:
    """The demo deploys, executes, settles, curates and pays rewards, checking each step."""
    settings = load_settings(
        database_url=database.url, data_dir=tmp_path, deployment_file=tmp_path / "deployment.json"
    )
    own = demo_database_name(settings)
    try:
        state = run_demo(settings, Console(file=io.StringIO()))
    finally:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(own))
            )
    assert len(state.executions) == 4
    # The demo keeps its own record of what it deployed: the services' file is left alone.
    assert (tmp_path / "demo-deployment.json").exists()
    assert not (tmp_path / "deployment.json").exists()
    # Its own database beside the configured one, so concurrent runs on one server never meet.
    assert own.endswith("_demo") and own != demo_database_name(load_settings())
    assert psycopg.conninfo.conninfo_to_dict(state.env.db.url)["dbname"] == own
