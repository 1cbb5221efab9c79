"""Prometheus metrics: lag, events, reorgs and node errors, served on /metrics."""

from __future__ import annotations

import httpx

from artisan.chain.anvil import free_port
from artisan.chain.errors import NodeUnavailable
from artisan.indexer.metrics import IndexerMetrics, MeteredSource
from artisan.storage.database import Database
from artisan.testing.fake_chain import FakeChain, FakeChainSource

from .indexer_support import CHAIN_ID, make_indexer


def test_metrics_follow_the_indexer_and_the_node(fresh_db: Database) -> None:
    """Events, reorgs with their depth, the lag and failed node calls are all counted."""
    chain = FakeChain()
    chain.mine(30)
    failures = iter([True, False, False, True])

    def flaky(method: str) -> None:
        if method == "headers" and next(failures, False):
            raise NodeUnavailable("headers: 502 from node")

    metrics = IndexerMetrics(CHAIN_ID)
    source = MeteredSource(FakeChainSource(chain, before_call=flaky), metrics)
    with make_indexer(fresh_db, source, on_progress=metrics.on_progress) as indexer:
        indexer.backfill()
        chain.reorg(4)
        indexer.catch_up()
    value = metrics.registry.get_sample_value
    assert value("artisan_indexer_events_total") == 3 * 30 + 3 * 5
    assert value("artisan_indexer_reorgs_total") == 1
    assert value("artisan_indexer_reorg_depth_blocks_sum") == 4
    assert value("artisan_indexer_head_lag_blocks") == 0
    assert value("artisan_indexer_indexed_block") == 31
    errors = {"method": "headers", "error": "NodeUnavailable"}
    assert value("artisan_indexer_rpc_errors_total", errors) == 2
    assert (value("artisan_indexer_rpc_seconds_count", {"method": "block_logs"}) or 0) > 0


def test_metrics_are_served_over_http() -> None:
    """`serve` exposes the registry on /metrics for Prometheus to scrape."""
    metrics = IndexerMetrics(CHAIN_ID)
    metrics.events.inc(7)
    port = free_port()
    server, thread = metrics.serve(port)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert "artisan_indexer_events_total 7.0" in body
