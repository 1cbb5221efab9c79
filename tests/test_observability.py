"""What every process shares to be watched: heartbeat rows, /metrics, JSON log lines."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette

from artisan.chain.anvil import free_port
from artisan.config import REPO_ROOT
from artisan.errors import ConfigError
from artisan.executor.serving import serve_in_thread
from artisan.logs import JsonFormatter, LastError
from artisan.metrics import metrics_route, process_registry, serve
from artisan.scheduling import build_scheduler
from artisan.storage.database import Database
from artisan.storage.service_status import (
    Heartbeat,
    HeartbeatService,
    ServiceStatus,
    read_all,
)
from tests.waiting import wait_until


def rows(db: Database) -> dict[str, ServiceStatus]:
    with db.connect() as conn:
        return {row.service: row for row in read_all(conn)}


@pytest.fixture
def scheduler() -> Iterator[Any]:
    scheduler = build_scheduler()
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown()


def test_a_heartbeat_goes_starting_running_stopped_with_its_figures(
    fresh_db: Database, scheduler: Any
) -> None:
    """The row says starting, then running with what was measured (on the heartbeat's own
    connection) at each beat, stopping while a slow stop lasts, then stopped, keeping the
    last figures; it is never stale while beating."""
    beats = 0

    def measure(conn: psycopg.Connection[Any]) -> Mapping[str, object]:
        nonlocal beats
        beats += 1
        row = conn.execute("SELECT 40 + 2").fetchone()
        return {"beats": beats, "answer": row[0] if row else None}

    service = HeartbeatService(scheduler, Heartbeat(fresh_db, "indexer", "test:1"), measure,
                               seconds=0.05)  # fmt: skip
    service.starting()
    first = rows(fresh_db)["indexer"]
    assert (first.state, first.instance, first.details) == ("starting", "test:1",
                                                            {"heartbeat_s": 0.05})  # fmt: skip
    service.start()
    wait_until(lambda: rows(fresh_db)["indexer"].details.get("beats", 0) >= 3)
    running = rows(fresh_db)["indexer"]
    assert running.state == "running" and running.details["answer"] == 42
    assert not running.stale and running.last_error is None
    service.mark_stopping()  # a slow stop: the beats say so, with their figures
    seen = rows(fresh_db)["indexer"].details["beats"]
    wait_until(lambda: rows(fresh_db)["indexer"].details["beats"] > seen)
    assert rows(fresh_db)["indexer"].state == "stopping"
    service.finish()
    stopped = rows(fresh_db)["indexer"]
    assert stopped.state == "stopped" and stopped.details["beats"] >= 3
    assert stopped.started_at == running.started_at and stopped.updated_at >= running.updated_at


def test_failures_are_reported_and_a_silent_row_is_stale(
    fresh_db: Database, scheduler: Any
) -> None:
    """A measure that raises is reported in the row and beating goes on; the service's own
    last error shows; a failure ends the row as failed with its reason; a row whose process
    stopped beating turns stale after three beats."""
    calls = 0

    def measure(_conn: psycopg.Connection[Any]) -> Mapping[str, object]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("no such figure")
        return {"calls": calls}

    error: str | None = None
    service = HeartbeatService(scheduler, Heartbeat(fresh_db, "emitter", "test:2"), measure,
                               seconds=0.05, last_error=lambda: error)  # fmt: skip
    service.starting()
    service.beat()
    assert rows(fresh_db)["emitter"].last_error == "measuring failed: KeyError: 'no such figure'"
    error = "node: NodeUnavailable: 502"
    service.beat()
    row = rows(fresh_db)["emitter"]
    assert row.details["calls"] == 2 and row.last_error == "node: NodeUnavailable: 502"
    service.finish(RuntimeError("the outbox database failed\nsecond line"))
    row = rows(fresh_db)["emitter"]
    assert row.state == "failed" and row.last_error == "RuntimeError: the outbox database failed"

    silent = HeartbeatService(scheduler, Heartbeat(fresh_db, "api", "test:3"), lambda _c: {},
                              seconds=0.05)  # fmt: skip
    silent.beat()
    assert not rows(fresh_db)["api"].stale
    time.sleep(0.2)  # over three beats without one: its process is gone
    assert rows(fresh_db)["api"].stale and rows(fresh_db)["api"].state == "running"
    silent.heartbeat.close()


def test_metrics_are_served_on_an_app_route_and_on_a_port_of_their_own() -> None:
    """One registry, with the process's own figures: on an app's /metrics and on a port;
    a port already taken is a configuration error naming it."""
    registry = process_registry()
    Counter("things", "Things", namespace="artisan_test", registry=registry).inc(3)
    app = Starlette(routes=[metrics_route(registry)])
    with serve_in_thread(app) as url:
        body = httpx.get(f"{url}/metrics", timeout=5).text
    assert "artisan_test_things_total 3.0" in body and "process_cpu_seconds_total" in body
    port = free_port()
    stop = serve(registry, port)
    try:
        assert (
            "artisan_test_things_total 3.0"
            in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        )
        with pytest.raises(ConfigError, match=str(port)):
            serve(registry, port)
    finally:
        stop()


def test_json_log_lines_carry_the_fields_given_to_them() -> None:
    """A record becomes one JSON object: level, logger, message and every ``extra`` field,
    an exception's traceback included."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("artisan.test.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("confirmed %s", "0xab", extra={"execution_id": "0xab", "log_index": 3})
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "confirmed 0xab" and first["level"] == "WARNING"
    assert first["execution_id"] == "0xab" and first["log_index"] == 3
    assert first["logger"] == "artisan.test.json" and first["ts"].endswith("+00:00")
    assert "ValueError: bad" in second["exception"]


def test_every_metric_is_listed_in_the_operations_guide() -> None:
    """Each metric a service registers has its line in docs/OPERATIONS.md, and each metric
    the guide lists exists: the list operators alert from is the code's."""
    from artisan.emitter.metrics import EmitterMetrics
    from artisan.executor.metrics import ExecutorMetrics
    from artisan.graphql.metrics import ApiMetrics
    from artisan.indexer.metrics import IndexerMetrics
    from artisan.projections.metrics import ProjectionMetrics

    registry = CollectorRegistry()
    for make in (ExecutorMetrics, EmitterMetrics, ProjectionMetrics, ApiMetrics):
        make(registry)
    IndexerMetrics(1, registry)
    names = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in registry.collect()
    }
    guide = (REPO_ROOT / "docs" / "OPERATIONS.md").read_text()
    listed = set(re.findall(r"^\| `(artisan_\w+)` \|", guide, re.M))
    assert names == listed, (names - listed, listed - names)


def test_the_last_error_line_of_a_service_is_kept() -> None:
    """An error logged anywhere under the service's logger is its last error (its first line);
    warnings and other services' errors are not; once closed, nothing more is kept."""
    last = LastError("artisan.test.service")
    try:
        logging.getLogger("artisan.test.service.part").warning("slow")
        logging.getLogger("artisan.test.other").error("not ours")
        assert last.message is None
        logging.getLogger("artisan.test.service.part").error("run %d failed\ndetails", 7)
        assert last.message == "artisan.test.service.part: run 7 failed"
    finally:
        last.close()
    logging.getLogger("artisan.test.service").error("after")
    assert last.message == "artisan.test.service.part: run 7 failed"
