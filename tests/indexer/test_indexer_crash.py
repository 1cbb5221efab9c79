"""Crash safety: an indexer process SIGKILLed at random points loses and duplicates nothing."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from multiprocessing.synchronize import Event

from artisan.chain.abi.decoder import ContractAbi
from artisan.indexer.errors import IndexerAlreadyRunning
from artisan.indexer.indexer import Indexer
from artisan.indexer.ranges import RangeSizer
from artisan.indexer.rpc import JsonRpcSource
from artisan.storage.database import Database

from .indexer_anvil import TokenChain
from .indexer_support import CHAIN_ID, CLEAN_CHAIN_ID, live_rows

KILLS = 50


def _open_indexer(
    db: Database, source: JsonRpcSource, chain_id: int, token: ContractAbi
) -> Indexer:
    """Start an indexer as a supervisor restarts one: the dead one's lock may linger a moment."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return Indexer(
                db,
                source,
                chain_id,
                [token],
                finality_depth=16,
                ranges=RangeSizer(size=4, maximum=4),
            )
        except IndexerAlreadyRunning:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _index(db_url: str, rpc_url: str, token: ContractAbi, ready: Event | None = None) -> None:
    """The body of one indexer process: index to the head, then exit."""
    with (
        JsonRpcSource(rpc_url) as source,
        _open_indexer(Database(db_url), source, CHAIN_ID, token) as indexer,
    ):
        if ready is not None:
            ready.set()
        indexer.backfill()


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    fresh_db: Database, token_anvil: TokenChain
) -> None:
    """50 SIGKILLs at random moments, restarts, then the store equals a clean index exactly."""
    token_anvil.mint_blocks(300, 8)
    # Forked, not spawned: a fresh interpreter would spend most of each life importing.
    context = multiprocessing.get_context("fork")
    rng = random.Random(20240607)
    killed_while_running = 0
    for kill in range(KILLS):
        if kill % 10 == 9:
            token_anvil.mint_blocks(3, 8)  # the head moves on between crashes
        ready = context.Event()
        worker = context.Process(
            target=_index, args=(fresh_db.url, token_anvil.node.rpc_url, token_anvil.token, ready)
        )
        worker.start()
        ready.wait(timeout=10)
        # The whole chain indexes in about 0.4 s: kills within 10 ms of the start land mid-work.
        time.sleep(rng.uniform(0.0, 0.01))
        if worker.is_alive():
            killed_while_running += 1
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    assert killed_while_running >= KILLS * 0.8
    _index(fresh_db.url, token_anvil.node.rpc_url, token_anvil.token)  # the last, undisturbed run

    with fresh_db.connect() as conn:
        duplicates = conn.execute(
            "SELECT count(*) - count(DISTINCT (block_hash, log_index)) FROM events"
            " WHERE chain_id = %s",
            (CHAIN_ID,),
        ).fetchall()[0][0]
        removals = conn.execute("SELECT count(*) FROM event_removals").fetchall()[0][0]
    assert duplicates == 0 and removals == 0
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as source,
        Indexer(fresh_db, source, CLEAN_CHAIN_ID, [token_anvil.token]) as clean,
    ):
        clean.backfill()
    got, want = live_rows(fresh_db, CHAIN_ID), live_rows(fresh_db, CLEAN_CHAIN_ID)
    assert len(want) == 2 + 8 * (300 + 3 * (KILLS // 10))
    assert got == want  # same content, same chain order: no gaps
