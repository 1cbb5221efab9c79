"""The GraphQL API over a projected synthetic history: graph-node's grammar, its errors, time
travel and ``_meta``, exact big numbers, and the health endpoints. Real Postgres, real
projections, the real app served by uvicorn over HTTP."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from artisan.chain.anvil import free_port
from artisan.config import REPO_ROOT
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.storage.service_status import read_all
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.processes import Child
from tests.projections.support import CHAIN_ID, write

from .support import BIG, BLOCKS, HEAD, WHALE, History, data, error


def test_meta_reports_the_head_every_projection_reached(
    client: httpx.Client, history: History
) -> None:
    meta = data(client, "{ _meta { block { number hash parentHash timestamp } deployment"
                        " hasIndexingErrors } }")["_meta"]  # fmt: skip
    last = history.blocks[-1].header
    assert meta["block"] == {"number": HEAD, "hash": last.hash, "parentHash": last.parent_hash,
                             "timestamp": last.timestamp}  # fmt: skip
    assert meta["deployment"] == "artisan" and meta["hasIndexingErrors"] is False


def test_every_execution_is_served_exactly_as_recorded(
    client: httpx.Client, history: History
) -> None:
    recorded = history.events("InferenceExecuted", HEAD)
    assert len(recorded) > 20  # the history is worth querying
    served = data(client, "{ executions(first: 1000, orderBy: blockNumber) { id modelId user"
                          " cost blockNumber priority gpuMicros } }")["executions"]  # fmt: skip
    assert len(served) == len(recorded)
    by_id = {e["id"]: e for e in served}
    for event in recorded:
        got = by_id[event["executionId"].lower()]
        assert got["modelId"] == event["modelId"] and got["cost"] == event["cost"]
        assert got["user"] == event["user"].lower() and got["priority"] == int(event["priority"])
        assert got["gpuMicros"] == event["meter"]["gpuMicros"]
        assert got["blockNumber"] == str(event["_block"])
    blocks = [int(e["blockNumber"]) for e in served]
    assert blocks == sorted(blocks)


def test_filters_and_or_and_suffixes(client: httpx.Client, history: History) -> None:
    recorded = history.events("InferenceExecuted", HEAD)
    user = recorded[0]["user"].lower()
    mine = data(client, "query($u: Bytes!) { executions(first: 1000, where: {user: $u}) { id } }",
                u=user.upper().replace("0X", "0x"))["executions"]  # fmt: skip
    assert {e["id"] for e in mine} == {
        e["executionId"].lower() for e in recorded if e["user"].lower() == user
    }
    costs = sorted(int(e["cost"]) for e in recorded)
    middle = costs[len(costs) // 2]
    cheap = data(client, "query($c: BigInt!) { executions(first: 1000, where: {cost_lt: $c})"
                         " { cost } }", c=str(middle))["executions"]  # fmt: skip
    assert sorted(int(e["cost"]) for e in cheap) == [c for c in costs if c < middle]
    either = data(
        client,
        """query($u: Bytes!, $c: BigInt!) { executions(first: 1000,
        where: {or: [{user: $u}, {cost_gte: $c}]}) { id } }""",
        u=user,
        c=str(middle),
    )
    expected = {e["executionId"].lower() for e in recorded
                if e["user"].lower() == user or int(e["cost"]) >= middle}  # fmt: skip
    assert {e["id"] for e in either["executions"]} == expected
    both = data(
        client,
        """query($u: Bytes!, $c: BigInt!) { executions(first: 1000,
        where: {and: [{user: $u}, {cost_gte: $c}]}) { id } }""",
        u=user,
        c=str(middle),
    )
    assert {e["id"] for e in both["executions"]} == {
        e["executionId"].lower() for e in recorded
        if e["user"].lower() == user and int(e["cost"]) >= middle
    }  # fmt: skip
    some = [e["executionId"].lower() for e in recorded[:3]]
    listed = data(client, "query($ids: [Bytes!]) { executions(where: {id_in: $ids}) { id } }",
                  ids=some)["executions"]  # fmt: skip
    assert sorted(e["id"] for e in listed) == sorted(some)
    changed = data(client, "{ executions(first: 1000, where: {_change_block: {number_gte: 20}})"
                           " { blockNumber } }")["executions"]  # fmt: skip
    assert len(changed) == sum(1 for e in recorded if e["_block"] >= 20)


def test_order_and_pages_are_a_total_order(client: httpx.Client) -> None:
    whole = data(client, "{ executions(first: 1000, orderBy: cost, orderDirection: desc)"
                         " { id cost } }")["executions"]  # fmt: skip
    costs = [int(e["cost"]) for e in whole]
    assert costs == sorted(costs, reverse=True)
    paged: list[Any] = []
    for skip in range(0, len(whole), 7):
        paged += data(
            client,
            "query($s: Int) { executions(first: 7, skip: $s, orderBy: cost,"
            " orderDirection: desc) { id cost } }",
            s=skip,
        )["executions"]
    assert paged == whole  # ties broken by id: pages neither repeat nor skip a row


def test_time_travel_reads_the_terms_as_of_a_block(client: httpx.Client, history: History) -> None:
    model = str(history.events("InferenceExecuted", HEAD)[0]["modelId"])
    first = next(e for e in history.events("ModelRegistered", HEAD) if str(e["modelId"]) == model)
    query = "query($id: ID!, $b: Int) { model(id: $id, block: {number: $b}) { id fixedPrice } }"
    now = data(client, query, id=model, b=HEAD)["model"]
    assert now == {"id": model, "fixedPrice": "123456789"}
    before = data(client, query, id=model, b=BLOCKS)["model"]
    assert before is not None and before["fixedPrice"] != "123456789"
    assert data(client, query, id=model, b=first["_block"] - 1)["model"] is None
    counted = data(client, "query($b: Int) { executions(first: 1000, block: {number: $b})"
                           " { id } }", b=15)["executions"]  # fmt: skip
    assert len(counted) == len(history.events("InferenceExecuted", 15))
    by_hash = data(client, "query($h: Bytes) { _meta(block: {hash: $h}) { block { number } } }",
                   h=history.blocks[9].header.hash)  # fmt: skip
    assert by_hash["_meta"]["block"]["number"] == 10


def test_blocks_past_the_head_are_refused_in_graph_nodes_words(client: httpx.Client) -> None:
    assert error(
        client, "query($b: Int) { executions(block: {number: $b}) { id } }", b=HEAD + 1
    ) == (
        f"subgraph artisan has only indexed up to block number {HEAD} and data for block"
        f" number {HEAD + 1} is therefore not yet available"
    )
    assert error(client, "{ _meta(block: {number_gte: 10000}) { block { number } } }").startswith(
        f"subgraph artisan has only indexed up to block number {HEAD}"
    )
    assert error(client, '{ executions(block: {hash: "0x1234"}) { id } }') == (
        "no block with that hash found"
    )


def test_limits_and_bad_input_answer_with_their_reason(client: httpx.Client) -> None:
    assert error(client, "{ executions(first: 1001) { id } }") == (
        "The `first` argument must be between 0 and 1000, but is 1001"
    )
    assert error(client, "{ executions(skip: 5001) { id } }").startswith(
        "The `skip` argument must be between 0 and 5000, but is 5001. Deeper pages: the"
        " `...Connection` field's `after` cursor"
    )
    assert "Cannot mix column filters with 'or' operator" in error(
        client, '{ executions(where: {cost: "1", or: [{cost: "2"}]}) { id } }'
    )
    assert "BigInt takes a decimal string" in error(
        client, '{ executions(where: {cost: "one"}) { id } }'
    )
    assert "Bytes takes 0x-prefixed hex" in error(client, '{ executions(where: {user: "bob"})'
                                                          " { id } }")  # fmt: skip
    assert "Cannot query field 'nope'" in error(client, "{ executions { nope } }")
    deep = "{ _meta { block { number } } }"
    aliases = "{ " + " ".join(f"a{i}: {deep[2:-2]}" for i in range(40)) + " }"
    assert "aliases" in error(client, aliases).lower()


def test_big_numbers_travel_exactly(client: httpx.Client) -> None:
    account = data(client, "query($id: ID!) { account(id: $id) { id escrow } }", id=WHALE)
    assert account["account"] == {"id": WHALE, "escrow": str(BIG)}
    found = data(client, "query($v: BigInt) { accounts(where: {escrow: $v}) { id } }",
                 v=str(BIG))["accounts"]  # fmt: skip
    assert found == [{"id": WHALE}]


def test_get_queries_and_health(client: httpx.Client) -> None:
    response = client.get("/graphql", params={"query": "{ _meta { block { number } } }"})
    assert response.status_code == 200
    assert response.json()["data"]["_meta"]["block"]["number"] == HEAD
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "block": HEAD,
                                                         "lag_blocks": 0}  # fmt: skip


def test_ready_reports_lag_when_the_projections_fall_behind(own_store: Database) -> None:
    gen = HistoryGenerator(3, chain_id=CHAIN_ID)
    with SeedWriter(own_store, CHAIN_ID) as writer:
        write(writer, gen.blocks(10, txs=4))
        run_once(own_store, CHAIN_ID)
        write(writer, gen.blocks(5, txs=4))  # indexed, not yet projected
    app = create_app(own_store.url, chain_id=CHAIN_ID, max_lag_blocks=2)
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["lag_blocks"] == 5 and "5 blocks behind" in ready.json()["reason"]
        # The API serves the head the projections reached, never a half-projected block.
        assert data(http, "{ _meta { block { number } } }")["_meta"]["block"]["number"] == 10
        run_once(own_store, CHAIN_ID)
        assert http.get("/ready").json() == {"ready": True, "block": 15, "lag_blocks": 0}
        # A replay that dropped reader indexes is not ready until they are built again.
        with own_store.connect() as conn:
            conn.execute(
                "INSERT INTO projection_deferred_indexes VALUES"
                " ('proj_executions_model', 'executions', 'CREATE INDEX ...')"
            )
            conn.commit()
        rebuilding = http.get("/ready")
        assert rebuilding.status_code == 503
        assert rebuilding.json()["rebuilding_indexes"] == ["proj_executions_model"]
        with own_store.connect() as conn:
            conn.execute("DELETE FROM projection_deferred_indexes")
            conn.commit()
        assert http.get("/ready").status_code == 200


def test_a_reorg_under_a_serving_api_replaces_the_orphaned_executions(
    own_store: Database,
) -> None:
    gen = HistoryGenerator(8, chain_id=CHAIN_ID)
    base = gen.blocks(10, txs=6)
    fork = gen.fork(99)
    fork.number, fork.parent = 7, base[6].header.hash
    replacement = fork.blocks(5, txs=6)
    app = create_app(own_store.url, chain_id=CHAIN_ID, max_lag_blocks=0)
    query = "{ executions(first: 1000) { id } _meta { block { number hash } } }"
    with (
        SeedWriter(own_store, CHAIN_ID) as writer,
        serve_in_thread(app, lifespan=True) as url,
        httpx.Client(base_url=url) as http,
    ):
        write(writer, base)
        run_once(own_store, CHAIN_ID)
        before = data(http, query)
        assert before["_meta"]["block"] == {"number": 10, "hash": base[-1].header.hash}
        writer.reorg(7)
        write(writer, replacement)
        run_once(own_store, CHAIN_ID)
        after = data(http, query)
        orphaned_hash = base[8].header.hash
        refused = error(http, "query($h: Bytes) { _meta(block: {hash: $h}) { block { number } } }",
                        h=orphaned_hash)  # fmt: skip
    canonical = [*base[:7], *replacement]
    expected = {r_id(row) for b in canonical for row in b.rows
                if row.event_name == "InferenceExecuted"}  # fmt: skip
    assert after["_meta"]["block"] == {"number": 12, "hash": replacement[-1].header.hash}
    assert {e["id"] for e in after["executions"]} == expected
    assert {e["id"] for e in before["executions"]} != expected  # the reorg changed something
    assert refused == "no block with that hash found"


def r_id(row: Any) -> str:
    return str(orjson.loads(row.args_json)["executionId"]).lower()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_artisan_api_serve_answers_and_stops_on_either_signal(
    seeded: tuple[Database, History], tmp_path: Path, signum: int
) -> None:
    """The real command: serves the seeded store and its /metrics, then ends on SIGINT or
    SIGTERM, exit 0, frees its port and leaves its heartbeat row stopped."""
    db, _ = seeded
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTISAN_")}
    env.update(ARTISAN_DEV="1", ARTISAN_DATABASE_URL=db.url, ARTISAN_DATA_DIR=str(tmp_path))
    port = free_port()
    command = [sys.executable, "-m", "artisan.cli", "api", "serve", "--port", str(port),
               "--chain-id", str(CHAIN_ID)]  # fmt: skip
    with Child(command, env=env, stderr=tmp_path / "api.txt", cwd=REPO_ROOT) as api:
        api.until(lambda line: "GraphQL on" in line, timeout=60.0)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # the line comes just before uvicorn listens
            try:
                ready = httpx.get(url + "/ready", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, api.stderr_text()
                time.sleep(0.1)
        assert ready.json()["ready"] is True
        with httpx.Client(base_url=url) as http:
            meta = data(http, "{ _meta { block { number } } }")
            metrics = http.get("/metrics").text
        assert meta["_meta"]["block"]["number"] == HEAD
        assert 'artisan_api_operation_seconds_count{operation="anonymous",type="query"} 1.0' in (
            metrics
        )
        assert api.stop(signum) == 0, api.stderr_text()
    with db.connect() as conn:
        rows = [r for r in read_all(conn) if r.instance.endswith(f":{api.process.pid}")]
    assert [(r.service, r.state) for r in rows] == [("api", "stopped")]
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=2)


def test_artisan_api_serve_on_an_empty_store_waits_for_the_indexer(
    fresh_db: Database, tmp_path: Path
) -> None:
    """Found by the simulation (seed 72 of a 200-seed run): started before the indexer wrote
    anything, with no deployment file and no --chain-id, `api serve` exited 1 ("the store
    holds no chain"). It waits instead, as the projection service does, and serves the chain
    the store comes to hold; a SIGTERM while it waits ends it with exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTISAN_")}
    env.update(ARTISAN_DEV="1", ARTISAN_DATABASE_URL=fresh_db.url, ARTISAN_DATA_DIR=str(tmp_path),
               ARTISAN_DEPLOYMENT_FILE=str(tmp_path / "none.json"))  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "artisan.cli", "api", "serve", "--port", str(port)]
    with Child(command, env=env, stderr=tmp_path / "api.txt", cwd=REPO_ROOT) as api:
        api.until(lambda text: "waiting for the indexer" in text, timeout=60.0)
        time.sleep(1.5)  # a wait of more than one poll: still running, nothing listening
        assert api.process.poll() is None, api.stderr_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        with fresh_db.connect() as conn:  # what the indexer writes first
            conn.execute("INSERT INTO indexer_checkpoints (chain_id, block_number) VALUES (%s, 0)",
                         (CHAIN_ID,))  # fmt: skip
        api.until(lambda text: f"for chain {CHAIN_ID}" in text, timeout=30.0)
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, api.stderr_text()
                time.sleep(0.1)
        assert health.status_code == 200
        assert api.stop(signal.SIGTERM) == 0, api.stderr_text()
    with Child(command, env=env, stderr=tmp_path / "api2.txt", cwd=REPO_ROOT) as waiting:
        with fresh_db.connect() as conn:
            conn.execute("DELETE FROM indexer_checkpoints")
        waiting.until(lambda text: "waiting for the indexer" in text, timeout=60.0)
        assert waiting.stop(signal.SIGTERM) == 0, waiting.stderr_text()
        assert "Traceback" not in waiting.stderr_text()
