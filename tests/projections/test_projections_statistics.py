"""Planner statistics are refreshed by the writers that change tables in bulk, never left to
autovacuum: a catch-up on a freshly written store analyses ``events`` first and the tables it
filled after (autovacuum off here, as the issue that found the stall had it)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from artisan.projections.executions import EXECUTION_COLUMNS
from artisan.projections.runner import run_once
from artisan.storage import statistics
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator

from .support import CHAIN_ID, fresh_store, write


@pytest.fixture
def quiet_store(pg_server: Database) -> Iterator[Database]:
    """A new store whose bulk tables autovacuum never touches."""
    for db in fresh_store(pg_server):
        with db.connect(autocommit=True) as conn:
            for table in ("events", "blocks", "proj_executions"):
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        yield db


def _analysed(db: Database, tables: tuple[str, ...]) -> dict[str, bool]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables"
            " WHERE relname = ANY(%s)", (list(tables),)
        ).fetchall()  # fmt: skip
    return dict(rows)


def test_a_catch_up_analyses_what_bulk_work_left_stale(quiet_store: Database) -> None:
    gen = HistoryGenerator(7, chain_id=CHAIN_ID)
    blocks = gen.blocks(40, txs=6)  # models and users first, then batches of executions
    blocks += [gen.next_block(executions=2_000) for _ in range(6)]
    with SeedWriter(quiet_store, CHAIN_ID) as writer:
        write(writer, blocks)
    tables = ("events", "proj_executions")
    with quiet_store.connect() as conn:
        count = conn.execute("SELECT count(*) FROM events").fetchone()
        assert count is not None and count[0] >= 30_000
        deadline = time.monotonic() + 10  # the writer's counts reach the statistics views
        while statistics.stale(conn, ["events"]) != ["events"]:
            assert time.monotonic() < deadline, "events never counted as changed"
            time.sleep(0.1)
    assert _analysed(quiet_store, tables) == {"events": False, "proj_executions": False}
    run_once(quiet_store, CHAIN_ID)
    assert _analysed(quiet_store, tables) == {"events": True, "proj_executions": True}
    with quiet_store.connect() as conn:
        assert statistics.stale(conn, tables) == []
    # Nothing changed since: the next catch-up analyses nothing (no ANALYZE per step).
    before = _counts(quiet_store, tables)
    run_once(quiet_store, CHAIN_ID)
    assert _counts(quiet_store, tables) == before


def _counts(db: Database, tables: tuple[str, ...]) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute("SELECT relname, analyze_count FROM pg_stat_user_tables"
                            " WHERE relname = ANY(%s)", (list(tables),)).fetchall()  # fmt: skip
    return dict(rows)


def test_executions_are_analysed_in_every_column_but_the_credit_arrays(
    quiet_store: Database,
) -> None:
    """Every column readers may filter or sort on has its statistics after a catch-up; the
    credit arrays (read only with their row) are not sampled, and a column added to the
    table is analysed unless named here as one of them."""
    assert statistics.PLANNED_COLUMNS["proj_executions"] == tuple(
        c for c in EXECUTION_COLUMNS if not c.startswith("credit_")
    )
    gen = HistoryGenerator(8, chain_id=CHAIN_ID)
    blocks = gen.blocks(40, txs=6) + [gen.next_block(executions=2_000) for _ in range(6)]
    with SeedWriter(quiet_store, CHAIN_ID) as writer:
        write(writer, blocks)
    run_once(quiet_store, CHAIN_ID)
    with quiet_store.connect() as conn:
        rows = conn.execute(
            "SELECT attname FROM pg_stats WHERE tablename = 'proj_executions'"
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(statistics.PLANNED_COLUMNS["proj_executions"])
