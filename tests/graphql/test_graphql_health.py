"""`health`: the lags, the outbox and the services' heartbeats, as a query and a subscription."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.projections.support import CHAIN_ID, write

from .live_support import Subscriber
from .support import data

QUERY = """{ health { block indexedBlock nodeHead headLagBlocks projectionLagBlocks executorQueue
  outboxPending outboxBroadcast projections { name block lagBlocks eventsBehind }
  services { service instance state stale ageSeconds lastError details } } }"""


def _beat(db: Database, service: str, instance: str, state: str, details: dict[str, int],
          age_s: float = 0.0, error: str | None = None) -> None:  # fmt: skip
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO service_status (service, instance, state, details, last_error,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, now() - make_interval(secs => %s))"
            " ON CONFLICT (service, instance) DO UPDATE SET state = excluded.state,"
            " details = excluded.details, last_error = excluded.last_error,"
            " updated_at = excluded.updated_at",
            (service, instance, state, orjson.dumps(details).decode(), error, age_s),
        )


@pytest.fixture
def store(own_store: Database) -> Database:
    gen = HistoryGenerator(5, chain_id=CHAIN_ID)
    with SeedWriter(own_store, CHAIN_ID) as writer:
        write(writer, gen.blocks(12, txs=3))
    return own_store


@pytest.fixture
def served(store: Database) -> Iterator[str]:
    app = create_app(store.url, chain_id=CHAIN_ID)
    with serve_in_thread(app, lifespan=True) as url:
        yield url


def test_health_reports_lags_outbox_and_heartbeats(store: Database, served: str) -> None:
    with store.connect() as conn:
        indexed = conn.execute("SELECT block_number FROM indexer_checkpoints").fetchone()
    assert indexed is not None
    with httpx.Client(base_url=served) as client:
        # Nothing projected yet: no head, every projection as far behind as the indexer.
        before = data(client, QUERY)["health"]
        assert before["block"] is None and before["indexedBlock"] == indexed[0]
        assert before["projections"] == [] and before["services"] == []
        assert before["nodeHead"] is None and before["executorQueue"] is None
        run_once(store, CHAIN_ID)
        _beat(store, "indexer", "a:1", "running", {"node_head": indexed[0] + 7})
        _beat(store, "executor", "b:2", "running", {"queue_depth": 5})
        _beat(store, "executor", "c:3", "running", {"queue_depth": 100}, age_s=120)  # stale
        _beat(store, "emitter", "b:2", "failed", {}, error="node unreachable")
        got = data(client, QUERY)["health"]
    assert got["block"] == got["indexedBlock"] == indexed[0]
    assert got["projectionLagBlocks"] == 0
    assert {p["name"] for p in got["projections"]} >= {"executions", "balances", "models"}
    assert all(p["eventsBehind"] == 0 and p["lagBlocks"] == 0 for p in got["projections"])
    assert got["nodeHead"] == indexed[0] + 7 and got["headLagBlocks"] == 7
    assert got["executorQueue"] == 5  # the stale executor's queue is not counted
    by = {(s["service"], s["instance"]): s for s in got["services"]}
    assert by[("executor", "c:3")]["stale"] and not by[("executor", "b:2")]["stale"]
    assert by[("emitter", "b:2")]["lastError"] == "node unreachable"
    assert by[("executor", "b:2")]["details"] == {"queue_depth": 5}
    assert (got["outboxPending"], got["outboxBroadcast"]) == (0, 0)


def test_health_subscription_sends_now_and_on_each_period(store: Database, served: str) -> None:
    run_once(store, CHAIN_ID)
    with Subscriber(served) as client:
        client.subscribe("subscription { health(everySeconds: 1) { checkedAt executorQueue } }")
        first = client.next()["payload"]["data"]["health"]
        assert first["executorQueue"] is None
        _beat(store, "executor", "b:2", "running", {"queue_depth": 3})
        # No NOTIFY for a heartbeat: the period brings it.
        second = client.next(timeout=10)["payload"]["data"]["health"]
        assert second["executorQueue"] == 3 and second["checkedAt"] > first["checkedAt"]
    with Subscriber(served) as client:
        client.subscribe("subscription { health(everySeconds: 0) { block } }")
        message = client.next()
        assert message["payload"]["errors"][0]["message"] == (
            "The `everySeconds` argument must be between 1 and 3600, but is 0"
        )
