"""`artisan db migrate|status`: the database's schema and its migrations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.errors import ArtisanError

if TYPE_CHECKING:
    from artisan.storage.database import Database
    from artisan.storage.migrations import Plan

db_app = typer.Typer(no_args_is_help=True, help="The database's schema: migrations.")


@db_app.command("migrate")
def migrate_command(
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
) -> None:
    """Bring the database to this release's schema (every service does too, at start)."""
    from artisan.storage.migrations import migrate

    done = _with_database(migrate)
    if as_json:
        json_line({"created": done.create, "recorded": done.record, "applied": done.run})
        return
    if done.create:
        console.print(f"created the schema from schema.sql; recorded {', '.join(done.record)}")
    elif done.record:
        console.print(f"recorded {', '.join(done.record)} (the schema already had it)")
    for name in done.run:
        console.print(f"applied {name}")
    if not done.pending:
        console.print(f"the schema is current ({len(done.done)} migrations applied)")


@db_app.command("status")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="one JSON object"),
) -> None:
    """Each migration: applied, pending, or unknown to this release (a newer schema)."""
    from artisan.storage.migrations import schema_status

    state = _with_database(schema_status)
    if as_json:
        json_line(
            {
                "applied": state.done,
                "pending": state.pending,
                "unknown": state.unknown,
                "empty": state.create,
            }
        )
        return
    table = Table("migration", "state")
    for name in state.done:
        table.add_row(name, "applied")
    for name in state.record:
        how = "schema.sql creates it" if state.create else "the schema has it: recorded only"
        table.add_row(name, f"pending ({how})")
    for name in state.run:
        table.add_row(name, "pending")
    for name in state.unknown:
        table.add_row(name, "[red]unknown: a newer release applied it[/red]")
    console.print(table)


def _with_database(action: Callable[[Database], Plan]) -> Plan:
    """``action`` on the configured database, or exit naming the failure."""
    from artisan.storage.database import open_database

    settings = settings_or_exit()
    try:
        db = open_database(settings)
        try:
            return action(db)
        finally:
            db.close()
    except ArtisanError as exc:
        raise fail(exc) from exc
