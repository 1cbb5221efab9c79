"""Long replays: side by side on two connections, reader indexes built once at the end."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
import pytest

from artisan.projections import bulk
from artisan.projections.abc import Projection
from artisan.projections.bulk import defer
from artisan.projections.registry import ALL
from artisan.projections.runner import Runner, Step
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator, SyntheticBlock

from .support import CHAIN_ID, db_digests, memory_digests, write

READER_INDEXES = sorted(name for p in ALL for name in p.reader_indexes)


class Crash(Exception):
    """Stands for the process dying after a step's writes, before its commit."""


def seeded(db: Database, count: int = 14) -> list[SyntheticBlock]:
    blocks = HistoryGenerator(11, chain_id=CHAIN_ID).blocks(count, txs=5)
    with SeedWriter(db, CHAIN_ID) as writer:
        write(writer, blocks)
    return blocks


def present(db: Database) -> list[str]:
    """The reader indexes that exist now."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname = ANY(%s)",
            (READER_INDEXES,),
        ).fetchall()
    return sorted(r[0] for r in rows)


def constraints(db: Database) -> list[tuple[str, str, str]]:
    """The primary keys and unique constraints of the projections' tables: name, kind, columns."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype IN ('p', 'u') AND conrelid::regclass::text LIKE 'proj\\_%'"
        ).fetchall()
    return sorted(rows)


def deferred(db: Database) -> list[str]:
    with db.connect() as conn:
        rows = conn.execute("SELECT index_name FROM projection_deferred_indexes").fetchall()
    return sorted(r[0] for r in rows)


def test_parallel_replay_defers_reader_indexes_and_gives_the_same_digest(store: Database) -> None:
    """A replay from the first event, far from the head, on two connections: the same content
    as the in-memory twins, and every reader index is back once it is done."""
    blocks = seeded(store)
    keys = constraints(store)
    assert (
        "proj_lineage_edges_pkey",
        "p",
        "PRIMARY KEY (block_number, log_index, relation)",
    ) in keys
    dropped: list[str] = []

    def spy(conn: psycopg.Connection[Any], projection: Projection) -> list[str]:
        names = defer(conn, projection)
        dropped.extend(names)
        return names

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk, "defer", spy)
        with Runner(store, CHAIN_ID, batch_size=40, workers=2, bulk_from=80) as runner:
            runner.catch_up()
            assert all(runner.costs[p.name].steps > 2 for p in ALL)
    assert sorted(dropped) == READER_INDEXES  # the edges' and usage rows' primary keys among them
    tip = blocks[-1].header.number
    assert db_digests(store, tip) == memory_digests(blocks, tip)
    assert present(store) == READER_INDEXES
    assert constraints(store) == keys  # made again as the constraints they were
    assert deferred(store) == []


def test_a_crash_mid_replay_leaves_indexes_to_the_step_that_reaches_the_head(
    store: Database,
) -> None:
    """Crashing part-way (in either connection) keeps the dropped indexes recorded; the run
    that reaches the head builds them, and the content is what a clean replay gives."""
    blocks = seeded(store)
    counter = itertools.count()

    def crash_late(_name: str, _step: Step) -> None:
        if next(counter) == 9:
            raise Crash

    with (
        Runner(
            store, CHAIN_ID, batch_size=40, workers=2, bulk_from=80, before_commit=crash_late
        ) as runner,
        pytest.raises(Crash),
    ):
        runner.catch_up()
    assert deferred(store) != [] and set(present(store)).isdisjoint(deferred(store))
    with Runner(store, CHAIN_ID, batch_size=40, workers=2, bulk_from=80) as runner:
        runner.catch_up()
    tip = blocks[-1].header.number
    assert db_digests(store, tip) == memory_digests(blocks, tip)
    assert present(store) == READER_INDEXES
    assert deferred(store) == []


def test_a_short_replay_keeps_its_indexes(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Close to the head there is nothing to gain: no index is ever dropped."""
    seeded(store, count=4)
    dropped: list[str] = []

    def spy(conn: psycopg.Connection[Any], projection: Projection) -> list[str]:
        names = defer(conn, projection)
        dropped.extend(names)
        return names

    monkeypatch.setattr(bulk, "defer", spy)
    with Runner(store, CHAIN_ID, batch_size=10) as runner:
        runner.catch_up()
    assert dropped == []
    assert present(store) == READER_INDEXES


def test_a_reorg_mid_replay_reverts_without_the_indexes_and_restores_them(
    store: Database,
) -> None:
    """A reorg while reader indexes are deferred: the revert and the new branch give the
    canonical chain's content, and the indexes come back at the head."""
    gen = HistoryGenerator(23, chain_id=CHAIN_ID)
    canonical = gen.blocks(10, txs=5)
    branch = gen.fork(99)  # the state after block 10, grown differently from here
    canonical += gen.blocks(4, txs=5)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, canonical)
        above = sum(len(b.rows) for b in canonical[:10])  # the last position of block 10
        with Runner(store, CHAIN_ID, batch_size=30, bulk_from=60) as runner:
            for projection in runner.projections:  # each part-way past block 10
                while runner.step(projection).position <= above:
                    pass
        assert deferred(store) != []
        writer.reorg(10)
        canonical = canonical[:10] + branch.blocks(3, txs=5)
        write(writer, canonical[10:])
    with Runner(store, CHAIN_ID, batch_size=40, workers=2, bulk_from=60) as runner:
        runner.catch_up()
    tip = canonical[-1].header.number
    assert db_digests(store, tip) == memory_digests(canonical, tip)
    assert present(store) == READER_INDEXES
    assert deferred(store) == []
