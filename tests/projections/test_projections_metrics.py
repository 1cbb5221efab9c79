"""The projection service's metrics and heartbeat: each projection's lag, in positions and in
blocks, as the store grows and the service catches up."""

from __future__ import annotations

from typing import Any

import httpx

from artisan.chain.anvil import free_port
from artisan.metrics import served
from artisan.projections.jobs import ProjectionIntervals, ProjectionService
from artisan.projections.registry import ALL
from artisan.projections.runner import Runner
from artisan.scheduling import build_scheduler
from artisan.storage.database import Database
from artisan.storage.service_status import read_all
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.waiting import wait_until

from .support import CHAIN_ID, write


def test_lag_is_reported_and_drops_to_zero_after_a_catch_up(fresh_db: Database) -> None:
    """Before the first catch-up every projection trails by every event stored (and the
    blocks from the first one with events to the checkpoint); once caught up, and again after
    new blocks are appended and announced, by none. The figures are in the heartbeat row and
    on /metrics, beside each projection's steps; the row ends stopped with its last figures."""
    blocks = HistoryGenerator(5, chain_id=CHAIN_ID).blocks(10, txs=3)
    events = sum(len(b.rows) for b in blocks[:6])
    first = next(b.header.number for b in blocks if b.rows)
    with SeedWriter(fresh_db, CHAIN_ID) as writer:
        write(writer, blocks[:6])
        scheduler = build_scheduler()
        hour = ProjectionIntervals(catch_up=3600.0)  # only the first run and NOTIFYs
        with Runner(fresh_db, CHAIN_ID) as runner:
            service = ProjectionService(runner, scheduler, intervals=hour)
            [beats] = service.heartbeats(instance="test", seconds=0.1)
            gauge = service.metrics.registry.get_sample_value
            beats.starting()
            beats.beat()
            lags = row(fresh_db)["projections"]
            assert set(lags) == {p.name for p in ALL}
            assert all(lag["events_behind"] == events and lag["position"] == 0
                       for lag in lags.values())  # fmt: skip
            assert all(lag["blocks_behind"] == 6 - (first - 1) for lag in lags.values())
            assert gauge("artisan_projections_lag_events", {"projection": "executions"}) == events

            port = free_port()
            scheduler.start()
            try:
                with served(service.metrics.registry, port):
                    service.start()
                    beats.start()
                    wait_until(lambda: row(fresh_db)["max_events_behind"] == 0, 20.0)
                    assert row(fresh_db)["max_blocks_behind"] == 0
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                    assert 'artisan_projections_lag_events{projection="executions"} 0.0' in text
                    assert 'artisan_projections_lag_blocks{projection="usage"} 0.0' in text

                    write(writer, blocks[6:])  # the writer NOTIFYs: the service catches up
                    head = sum(len(b.rows) for b in blocks)
                    wait_until(lambda: row(fresh_db)["head_position"] == head
                               and row(fresh_db)["max_events_behind"] == 0, 20.0)  # fmt: skip
                    steps = gauge("artisan_projections_steps_total", {"projection": "models"})
                    assert steps is not None and steps >= 2
                    assert (gauge("artisan_projections_catch_up_seconds_count") or 0) >= 2
            finally:
                service.stop()
                beats.finish(service.failure)
                scheduler.shutdown()
    with fresh_db.connect() as conn:
        [stopped] = read_all(conn)
    assert (stopped.service, stopped.state, stopped.instance) == ("projections", "stopped", "test")
    assert stopped.details["max_events_behind"] == 0 and stopped.last_error is None


def row(db: Database) -> dict[str, Any]:
    with db.connect() as conn:
        [found] = [r for r in read_all(conn) if r.service == "projections"]
    return found.details
