"""`artisan db migrate|status` against a real database."""

from __future__ import annotations

import json
from collections.abc import Callable

from psycopg import sql
from typer.testing import CliRunner
from yoyo.migrations import default_migration_table, get_migration_hash

from artisan.cli.main import app
from artisan.storage.database import Database
from artisan.storage.migrations import MIGRATIONS_DIR

KNOWN = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


def test_migrate_and_status(empty_databases: Callable[[], Database]) -> None:
    """`db status` shows every migration pending on an empty database; `db migrate --json`
    creates the schema and records them all, a second run does nothing; a migration recorded by
    a newer release makes `db migrate` exit 1 naming it, and `db status` list it as unknown."""
    db = empty_databases()
    runner, env = CliRunner(), {"ARTISAN_DATABASE_URL": db.url}

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["db", *args], env=env)
        return result.exit_code, result.output

    code, out = run("status", "--json")
    assert code == 0 and json.loads(out) == {
        "applied": [], "pending": KNOWN, "unknown": [], "empty": True
    }  # fmt: skip
    code, out = run("migrate", "--json")
    assert code == 0 and json.loads(out) == {"created": True, "recorded": KNOWN, "applied": []}
    code, out = run("migrate")
    assert code == 0 and f"the schema is current ({len(KNOWN)} migrations applied)" in out
    code, out = run("status", "--json")
    assert code == 0 and json.loads(out) == {
        "applied": KNOWN, "pending": [], "unknown": [], "empty": False
    }  # fmt: skip

    with db.connect() as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (migration_hash, migration_id, applied_at_utc)"
                " VALUES (%s, %s, now())"
            ).format(sql.Identifier(default_migration_table)),
            (get_migration_hash("0999_from_the_future"), "0999_from_the_future"),
        )
    code, out = run("migrate")
    assert code == 1 and "0999_from_the_future" in out and "upgrade artisan" in out
    code, out = run("status")
    assert code == 0 and "0999_from_the_future" in out and "unknown" in out
