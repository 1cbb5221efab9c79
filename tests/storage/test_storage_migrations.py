"""Schema migrations: the previous release's schema, migrated, is schema.sql's, data kept."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from yoyo.backends import DatabaseBackend
from yoyo.migrations import default_migration_table, get_migration_hash

from artisan.config import REPO_ROOT
from artisan.errors import StorageError
from artisan.storage import migrations
from artisan.storage.database import Database
from artisan.storage.migrations import BASELINE, MIGRATIONS_DIR, Plan, migrate, plan

# main's commit when migrations came: the schema every database made before them has.
PREVIOUS_RELEASE = "f99e40c"
KNOWN = tuple(sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql")))
# yoyo's bookkeeping, which is not part of our schema.
YOYO_TABLES = {
    default_migration_table,
    DatabaseBackend.log_table,
    DatabaseBackend.version_table,
    DatabaseBackend.lock_table,
}

# What the catalog says of the schema "public", each kind of object as a set of rows whose
# first column names it (or the relation it belongs to).
CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')""",
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(co.collname, ''),
               a.attidentity::text, a.attgenerated::text
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0
          AND NOT a.attisdropped""",
    "constraints": """
        SELECT coalesce(c.relname, format_type(k.contypid, NULL)), k.conname, k.contype::text,
               pg_get_constraintdef(k.oid)
        FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = 'public'::regnamespace""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "types": """
        SELECT t.typname, t.typtype::text, coalesce(format_type(r.rngsubtype, NULL), ''),
               coalesce(co.collname, ''), format_type(t.typbasetype, t.typtypmod),
               coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                         FROM pg_enum e WHERE e.enumtypid = t.oid), '')
        FROM pg_type t
        LEFT JOIN pg_range r ON r.rngtypid = t.oid
        LEFT JOIN pg_collation co ON co.oid = r.rngcollation
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype <> 'c'
          AND t.typcategory <> 'A'""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               CASE WHEN p.prokind = 'a' THEN '' ELSE pg_get_functiondef(p.oid) END
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by,
               cycle
        FROM pg_sequences WHERE schemaname = 'public'""",
    "extensions": "SELECT extname, extversion FROM pg_extension",
}

# A few rows of the previous release's tables (event store, indexer, projections, rewards).
ROWS = """
INSERT INTO reorgs (chain_id, ancestor_number, ancestor_hash, depth, old_tip_number,
                    orphaned_hashes)
    VALUES (31337, 1, '0xa1', 1, 2, ARRAY['0xb2']);
INSERT INTO blocks (chain_id, hash, number, parent_hash, timestamp, finalized, orphaned_by)
    VALUES (31337, '0xa1', 1, '0xa0', 1700000000, true, NULL),
           (31337, '0xb2', 2, '0xa1', 1700000012, false, 1);
INSERT INTO events (chain_id, block_number, block_hash, block_timestamp, tx_hash, tx_index,
                    log_index, address, event_name, args, topics, data)
    VALUES (31337, 1, '0xa1', 1700000000, '0xt1', 0, 0, '0xledger', 'Rated',
            '{"rating": "5"}', ARRAY['0xtopic'], '0x'),
           (31337, 2, '0xb2', 1700000012, '0xt2', 0, 0, '0xledger', NULL, NULL,
            ARRAY['0xtopic'], '0x');
INSERT INTO event_removals (position, reorg_id) VALUES (2, 1);
INSERT INTO indexer_checkpoints (chain_id, block_number, block_hash) VALUES (31337, 1, '0xa1');
INSERT INTO projection_tracking (name, chain_id, last_position, last_reorg_id)
    VALUES ('models', 31337, 1, 1);
INSERT INTO proj_models (model_id, cid, owner, parent_id, depth, size_class, kind, access,
                         pricing_kind, fixed_price, thresholds, prices, remix_allowed,
                         remix_share_bps, dao_treasury, dao_share_bps, registered_block,
                         registered_log, registered_tx, block_range)
    VALUES (7, 'bafy', '0xowner', 0, 0, 1, 0, 0, 0, 100, '{}', '{}', true, 0, '0xdao', 0, 1,
            0, '0xt1', '[1,)');
INSERT INTO proj_usage (block_number, model_id, user_address, hour, executions, fees,
                        gpu_micros)
    VALUES (1, 7, '0xuser', 1699999200, 2, 300, 1500);
INSERT INTO reward_epochs (epoch, from_block, to_block, pool, total, root, leaf_count)
    VALUES (1, 0, 99, 1000, 990, '0xroot', 1);
INSERT INTO reward_leaves (epoch, account, amount, proof) VALUES (1, '0xuser', 990, '{}');
"""
FILLED = (
    "reorgs", "blocks", "events", "event_removals", "indexer_checkpoints", "projection_tracking",
    "proj_models", "proj_usage", "reward_epochs", "reward_leaves",
)  # fmt: skip


def catalog(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.connect() as conn:
        return {
            kind: sorted(row for row in conn.execute(query) if row[0] not in YOYO_TABLES)
            for kind, query in CATALOG.items()
        }


def contents(db: Database, tables: tuple[str, ...]) -> dict[str, list[str]]:
    with db.connect() as conn:
        read = sql.SQL("SELECT to_jsonb(t)::text FROM {} t")
        return {
            t: sorted(r[0] for r in conn.execute(read.format(sql.Identifier(t)))) for t in tables
        }


def records(db: Database) -> dict[tuple[str, str], int]:
    """How many times yoyo's log says each migration was run ("apply") or recorded ("mark")."""
    with db.connect() as conn:
        rows = conn.execute(
            sql.SQL("SELECT migration_id, operation, count(*) FROM {} GROUP BY 1, 2").format(
                sql.Identifier(DatabaseBackend.log_table)
            )
        )
        return {(name, op): n for name, op, n in rows}


def recorded(db: Database) -> list[str]:
    with db.connect() as conn:
        query = sql.SQL("SELECT migration_id FROM {} ORDER BY migration_id")
        return [r[0] for r in conn.execute(query.format(sql.Identifier(default_migration_table)))]


def previous_schema() -> bytes:
    """schema.sql as the previous release had it, from git history."""
    try:
        shown = subprocess.run(
            ["git", "show", f"{PREVIOUS_RELEASE}:schema.sql"],
            cwd=REPO_ROOT, capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no git history with {PREVIOUS_RELEASE} here (a shallow clone?): {exc}")
    return shown.stdout


def previous_release(make: Callable[[], Database]) -> Database:
    """A database as the previous release left it: its schema.sql, and a few rows."""
    db = make()
    with db.connect(autocommit=True) as conn:
        conn.execute(previous_schema())
        conn.execute(ROWS.encode())
    return db


def test_previous_release_migrated_equals_a_new_database(
    empty_databases: Callable[[], Database], fresh_db: Database
) -> None:
    """A database with the previous release's schema and rows, migrated, has the catalog of a
    new database (tables, columns, constraints, indexes, types, functions, views) and its
    rows as they were."""
    old = previous_release(empty_databases)
    before = contents(old, FILLED)
    assert all(before.values())

    done = migrate(old)

    assert done == Plan(done=(), create=False, record=(BASELINE,), run=KNOWN[1:], unknown=())
    assert catalog(old) == catalog(fresh_db)
    assert contents(old, FILLED) == before


def test_the_migrations_alone_build_the_current_schema(
    empty_databases: Callable[[], Database], fresh_db: Database
) -> None:
    """The numbered files, run in order on an empty database, build schema.sql's schema: the
    baseline is the previous release's schema and each later file is its change."""
    db = empty_databases()
    with db.connect(autocommit=True) as conn:
        for name in KNOWN:
            conn.execute((MIGRATIONS_DIR / f"{name}.sql").read_bytes())
    assert catalog(db) == catalog(fresh_db)


def test_the_baseline_is_the_previous_release() -> None:
    """0001_baseline.sql holds the previous release's schema.sql, verbatim."""
    assert previous_schema().decode() in (MIGRATIONS_DIR / f"{BASELINE}.sql").read_text()


def test_a_new_database_records_every_migration_and_a_second_run_does_nothing(
    empty_databases: Callable[[], Database],
) -> None:
    """An empty database gets schema.sql with every migration recorded as applied, none run;
    migrating it again applies nothing."""
    db = empty_databases()

    first = migrate(db)
    second = migrate(db)

    assert first == Plan(done=(), create=True, record=KNOWN, run=(), unknown=())
    assert second == Plan(done=KNOWN, create=False, record=(), run=(), unknown=())
    assert recorded(db) == list(KNOWN)
    assert records(db) == {(name, "mark"): 1 for name in KNOWN}
    with db.connect() as conn:
        row = conn.execute("SELECT to_regclass('service_status') IS NOT NULL").fetchone()
    assert row == (True,)


def test_a_newer_schema_is_refused_and_left_alone(fresh_db: Database) -> None:
    """A database recording a migration this code does not know is refused, naming it, and
    nothing is changed, not even a migration still pending here."""
    with fresh_db.connect() as conn:
        conn.execute("DROP TABLE service_status")
        table = sql.Identifier(default_migration_table)
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE migration_id = %s").format(table),
            ("0002_service_status",),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (migration_hash, migration_id, applied_at_utc)"
                " VALUES (%s, %s, now())"
            ).format(table),
            (get_migration_hash("0999_from_the_future"), "0999_from_the_future"),
        )
    schema, marks = catalog(fresh_db), recorded(fresh_db)

    with pytest.raises(StorageError, match=r"0999_from_the_future.*upgrade artisan"):
        migrate(fresh_db)

    assert catalog(fresh_db) == schema
    assert recorded(fresh_db) == marks


def test_two_processes_migrating_at_once_apply_each_migration_once(
    empty_databases: Callable[[], Database],
) -> None:
    """Two services starting together on the previous release's database, each with its own
    connections: both finish, the baseline is recorded once and each later migration run
    once."""
    old = previous_release(empty_databases)
    start = threading.Barrier(2)
    outcomes: list[Plan | BaseException] = []

    def start_service() -> None:
        start.wait()
        try:
            outcomes.append(migrate(old))
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=start_service) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert all(isinstance(o, Plan) for o in outcomes) and len(outcomes) == 2, outcomes
    assert sorted(o.pending for o in outcomes if isinstance(o, Plan)) == [(), KNOWN]
    assert records(old) == {(BASELINE, "mark"): 1} | {(name, "apply"): 1 for name in KNOWN[1:]}


def test_a_failing_migration_leaves_neither_its_changes_nor_its_record(
    empty_databases: Callable[[], Database], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails halfway is rolled back with its record: the database stays at
    the migration before it."""
    (tmp_path / f"{BASELINE}.sql").write_bytes((MIGRATIONS_DIR / f"{BASELINE}.sql").read_bytes())
    (tmp_path / "0002_broken.sql").write_text(
        "CREATE TABLE half_done (id integer);\nSELECT 1 / 0;\n"
    )
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path)
    old = previous_release(empty_databases)

    with pytest.raises(StorageError, match="division by zero"):
        migrate(old)

    assert recorded(old) == [BASELINE]
    with old.connect() as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("recorded_there", "has_schema", "expected"),
    [
        ((), False, Plan((), True, ("0001_baseline", "0002_b"), (), ())),
        ((), True, Plan((), False, ("0001_baseline",), ("0002_b",), ())),
        (("0001_baseline",), True, Plan(("0001_baseline",), False, (), ("0002_b",), ())),
        (
            ("0001_baseline", "0002_b", "0003_c"),
            True,
            Plan(("0001_baseline", "0002_b"), False, (), (), ("0003_c",)),
        ),
    ],
)
def test_plan_from_what_a_database_records(
    recorded_there: tuple[str, ...], has_schema: bool, expected: Plan
) -> None:
    """Empty: schema.sql and every record; our tables but no record: the baseline recorded, the
    rest run; records: what they lack run, what this code does not know reported."""
    assert plan(("0001_baseline", "0002_b"), recorded_there, has_schema) == expected
