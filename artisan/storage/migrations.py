"""Schema migrations: a new database gets ``schema.sql`` whole, an existing one the numbered
files of ``migrations/`` it has not had, under one advisory lock.

yoyo-migrations reads the files, runs their statements and keeps the record of what ran (its
``_yoyo_*`` and ``yoyo_lock`` tables). ``schema.sql`` stays the current schema in full; each
migration takes a database from the schema before it to the schema after it, and
tests/storage/test_storage_migrations.py checks that the previous release's schema, migrated,
equals ``schema.sql``. A database that records a migration this code does not know was
migrated by a newer release: it is refused before anything is changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from yoyo import read_migrations
from yoyo.backends import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI
from yoyo.exceptions import BadMigration, LockTimeout
from yoyo.migrations import default_migration_table

from artisan.config import REPO_ROOT, redact_url
from artisan.errors import StorageError
from artisan.storage.database import Database

SCHEMA_FILE = REPO_ROOT / "schema.sql"
MIGRATIONS_DIR = REPO_ROOT / "migrations"
# The schema of the release before migrations: what a database with our tables and no
# record of any migration has.
BASELINE = "0001_baseline"
# Every process that changes the schema takes this lock first (the key schema.sql was applied
# under before migrations, so an older process starting beside a newer one waits too).
LOCK_KEY = 7231001


@dataclass(frozen=True)
class Plan:
    """What migrating a database does, from what it records and what this code knows."""

    done: tuple[str, ...]  # recorded as applied already
    create: bool  # no schema yet: schema.sql whole, and every migration recorded
    record: tuple[str, ...]  # recorded without being run: the schema has them already
    run: tuple[str, ...]  # run in order, each in one transaction with its record
    unknown: tuple[str, ...]  # recorded there, unknown here: a newer release's schema

    @property
    def pending(self) -> tuple[str, ...]:
        return self.record + self.run


def plan(known: Sequence[str], recorded: Sequence[str], has_schema: bool) -> Plan:
    """The plan for a database that records ``recorded`` and has our tables or not."""
    if recorded:
        return Plan(
            done=tuple(m for m in recorded if m in known),
            create=False,
            record=(),
            run=tuple(m for m in known if m not in recorded),
            unknown=tuple(m for m in recorded if m not in known),
        )
    if not has_schema:
        return Plan(done=(), create=True, record=tuple(known), run=(), unknown=())
    # Our tables and no record: a database from before migrations, at the baseline.
    rest = tuple(m for m in known if m != BASELINE)
    return Plan(done=(), create=False, record=(BASELINE,), run=rest, unknown=())


def migrate(db: Database) -> Plan:
    """Bring ``db`` to the current schema (every service does, at start); what it did.

    Raises StorageError, changing nothing, if the database is newer than this code."""
    migrations = _known()
    try:
        with db.connect(autocommit=True) as conn:
            # A session lock: it goes with the connection, also when this process dies.
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            todo = _inspect(conn, [m.id for m in migrations])
            if todo.unknown:
                raise StorageError(
                    f"the database records migrations this code does not know"
                    f" ({', '.join(todo.unknown)}): a newer release has migrated it;"
                    " upgrade artisan before running it against this database"
                )
            if todo.pending:
                _carry_out(db, todo, {m.id: m for m in migrations})
    except (psycopg.Error, BadMigration, LockTimeout) as exc:
        raise StorageError(f"cannot migrate the database {redact_url(db.url)}: {exc}") from exc
    return todo


def schema_status(db: Database) -> Plan:
    """What ``migrate`` would do to ``db`` now (nothing is locked or changed)."""
    migrations = _known()
    try:
        with db.connect() as conn:
            return _inspect(conn, [m.id for m in migrations])
    except psycopg.Error as exc:
        raise StorageError(f"cannot read the migrations of {redact_url(db.url)}: {exc}") from exc


def _known() -> Any:
    """The migrations of this code, in order (a yoyo MigrationList)."""
    migrations = read_migrations(str(MIGRATIONS_DIR))
    if not migrations or migrations[0].id != BASELINE:
        raise StorageError(f"{MIGRATIONS_DIR} does not start with {BASELINE}.sql")
    return migrations


def _inspect(conn: psycopg.Connection[Any], known: Sequence[str]) -> Plan:
    row = conn.execute(
        "SELECT to_regclass('schema_info') IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (default_migration_table,),
    ).fetchone()
    assert row is not None
    has_schema, has_records = row
    recorded: list[str] = []
    if has_records:
        query = sql.SQL("SELECT migration_id FROM {} ORDER BY applied_at_utc, migration_id")
        cur = conn.execute(query.format(sql.Identifier(default_migration_table)))
        recorded = [r[0] for r in cur]
    return plan(known, recorded, has_schema)


def _carry_out(db: Database, todo: Plan, migrations: dict[str, Any]) -> None:
    with _backend(db) as backend:
        # Under our advisory lock no other process migrates, so a row in yoyo's own lock
        # table (held only while it creates its tables) is one a killed process left.
        backend.break_lock()
        backend.ensure_internal_schema_updated()  # yoyo's tables, outside any transaction
        with backend.transaction():
            if todo.create:
                backend.connection.execute(SCHEMA_FILE.read_bytes())
            for name in todo.record:
                backend.mark_one(migrations[name])
        for name in todo.run:
            _run(backend, migrations[name])


def _run(backend: Any, migration: Any) -> None:
    """One migration and its record in one transaction, so a crash leaves it applied and
    recorded or neither (yoyo's own ``apply_one`` commits the two apart)."""
    migration.load()
    if not migration.use_transactions:
        raise StorageError(f"migration {migration.id} must run in a transaction")
    with backend.transaction():
        migration.process_steps(backend, "apply")  # in a savepoint of this transaction
        backend.log_migration(migration, "apply")
        backend.mark_one(migration, log=False)


@contextlib.contextmanager
def _backend(db: Database) -> Iterator[Any]:
    """yoyo's connection to ``db``: its own, in autocommit (yoyo sends BEGIN and COMMIT)."""
    info = conninfo_to_dict(db.url)
    dbname = info.pop("dbname", None)
    args = {key: str(value) for key, value in info.items()}
    uri = DatabaseURI("postgresql+psycopg", None, None, None, None, dbname, args)
    backend = PostgresqlPsycopgBackend(uri, default_migration_table)
    try:
        backend.init_database()
        yield backend
    finally:
        backend.connection.close()
