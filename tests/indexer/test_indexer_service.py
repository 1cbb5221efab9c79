"""The scheduled live indexer: new blocks within a second, clean stops, failures surfaced."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from artisan.indexer.errors import DeepReorgError
from artisan.indexer.follow import (
    CATCH_UP_JOB,
    IndexerService,
    ServiceIntervals,
    build_scheduler,
    interruptible_sleep,
)
from artisan.indexer.heads import NewHeads
from artisan.indexer.indexer import Indexer, Progress
from artisan.indexer.metrics import IndexerMetrics
from artisan.indexer.pruning import BlockPruner
from artisan.indexer.rpc import JsonRpcSource
from artisan.indexer.throughput import Throughput
from artisan.storage.chain_records import Checkpoint
from artisan.storage.database import Database
from artisan.storage.event_reader import stored_checkpoint
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_anvil import TokenChain
from .indexer_support import CHAIN_ID, make_indexer


def _event_count(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute("SELECT count(*) FROM live_events").fetchall()[0][0])


def _wait_for(condition: object, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails the test after ``timeout``."""
    assert callable(condition)
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = build_scheduler()
    scheduler.start()
    try:
        yield scheduler
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)


@pytest.mark.parametrize("woken_by", ["newHeads", "polling"])
def test_service_picks_up_new_blocks_within_a_second(
    fresh_db: Database, token_anvil: TokenChain, scheduler: BackgroundScheduler, woken_by: str
) -> None:
    """Each mined block is in the store within a second, woken by newHeads or by polling."""
    token_anvil.mint_blocks(5, 2)
    stop = threading.Event()
    heads = NewHeads(token_anvil.node.ws_url) if woken_by == "newHeads" else None
    poll = 30.0 if heads is not None else 0.2  # with newHeads, the interval is only a fallback
    ticks: list[float] = []
    scheduler.add_job(lambda: ticks.append(time.monotonic()), "interval", seconds=0.1)
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as source,
        Indexer(fresh_db, source, CHAIN_ID, [token_anvil.token], finality_depth=4,
                sleep=interruptible_sleep(stop)) as indexer,
    ):  # fmt: skip
        indexer.backfill()
        service = IndexerService(
            indexer,
            scheduler,
            BlockPruner(fresh_db, CHAIN_ID),
            stop=stop,
            intervals=ServiceIntervals(poll=poll),
            heads=heads,
            metrics=IndexerMetrics(CHAIN_ID),
        )
        service.start()
        try:
            for expected in (2 + 5 * 2 + 3, 2 + 5 * 2 + 6):
                token_anvil.mint_blocks(1, 3)
                assert _wait_for(lambda n=expected: _event_count(fresh_db) == n, 5.0) < 1.0
        finally:
            started = time.monotonic()
            service.stop()
            stopped_in = time.monotonic() - started
            if heads is not None:
                heads.close()
        assert stopped_in < 1.0 and service.failure is None
        assert scheduler.get_job(CATCH_UP_JOB) is None
        assert ticks, "another service's job ran on the same scheduler"
        head = token_anvil.head()
        assert indexer.checkpoint.number == head
    token_anvil.mint_blocks(1, 1)
    time.sleep(0.3)  # stopped: nothing is indexed any more
    with fresh_db.connect() as conn:
        checkpoint = stored_checkpoint(conn, CHAIN_ID)
    assert checkpoint is not None and checkpoint.number == head


def test_a_failing_job_stops_the_service_and_is_reported(
    fresh_db: Database, scheduler: BackgroundScheduler
) -> None:
    """A fork below finality halts the catch-up job: the service stops and keeps the error."""
    chain = FakeChain()
    chain.mine(40)
    with make_indexer(fresh_db, FakeChainSource(chain), finality_depth=10) as indexer:
        indexer.backfill()
        chain.reorg(20)
        service = IndexerService(indexer, scheduler, BlockPruner(fresh_db, CHAIN_ID))
        service.start()
        assert service.wait(5.0)
        service.stop()
    assert isinstance(service.failure, DeepReorgError)


def test_throughput_reports_recent_rates_lag_and_eta() -> None:
    """Rates are over the recent window; the ETA is the lag over the block rate."""
    now = [0.0]
    throughput = Throughput(start_block=99, window=10.0, clock=lambda: now[0])
    now[0] = 2.0
    report = throughput.update(Progress("append", Checkpoint(299, "0x1"), head=1099, events=400))
    assert (report.blocks_per_s, report.events_per_s) == (100.0, 200.0)
    assert (report.lag, report.eta_s) == (800, 8.0)
    now[0] = 30.0  # the first sample has left the window: rates since the second
    report = throughput.update(Progress("append", Checkpoint(1099, "0x2"), head=1099, events=100))
    assert report.blocks_per_s == pytest.approx(800 / 28) and report.events_total == 500
    assert report.as_json() | {"blocks_per_s": 0} == {
        "kind": "append", "phase": "backfill", "block": 1099, "head": 1099, "lag": 0,
        "events": 100, "events_total": 500, "blocks_per_s": 0, "events_per_s": 3.6,
        "eta_s": 0.0, "elapsed_s": 30.0,
    }  # fmt: skip
