"""The API reading a streaming standby while the indexer and projections write the primary
(docs/OPERATIONS.md): `_meta` is the standby's view, and `/ready` says when the standby has
fallen behind the primary's indexer, and is ready again once it has caught up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.storage.migrations import migrate
from artisan.testing.pg_cluster import Cluster, primary_and_standby
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.projections.support import CHAIN_ID, write

META = "{ _meta { block { number hash } } executions(first: 1000) { id } }"


def _until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster]]:
    with primary_and_standby(tmp_path / "pg") as pair:
        yield pair


def test_the_api_on_a_standby_shows_and_reports_its_lag(
    clusters: tuple[Cluster, Cluster],
) -> None:
    primary, standby = clusters
    with psycopg.connect(primary.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE artisan")
    db = Database(primary.url("artisan"))
    migrate(db)
    gen = HistoryGenerator(3, chain_id=CHAIN_ID)
    with SeedWriter(db, CHAIN_ID) as writer:
        write(writer, gen.blocks(10, txs=3))
    run_once(db, CHAIN_ID)
    with db.connect() as conn:
        first = conn.execute("SELECT block_number FROM indexer_checkpoints").fetchone()
    assert first is not None
    # The standby is read-only: the API reads it and listens on the primary.
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    app = create_app(standby.url("artisan"), chain_id=CHAIN_ID, max_lag_blocks=2,
                     notify_url=db.url)  # fmt: skip
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:

        def meta() -> Any:
            body = http.post("/graphql", json={"query": META}).json()
            return body.get("data")

        _until(lambda: (meta() or {}).get("_meta", {}).get("block", {}).get("number")
               == first[0], "the standby replays the primary's projections")  # fmt: skip
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["replica_lag_blocks"] == 0
        seen = meta()
        # The standby stops replaying (as a replica that falls behind does); the primary goes on.
        with psycopg.connect(standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        with SeedWriter(db, CHAIN_ID) as writer:
            write(writer, gen.blocks(6, txs=3))
        run_once(db, CHAIN_ID)
        with db.connect() as conn:
            now = conn.execute("SELECT block_number FROM indexer_checkpoints").fetchone()
        assert now is not None and now[0] > first[0] + 2
        assert meta() == seen  # the standby's view: nothing of the new blocks
        behind = http.get("/ready")
        assert behind.status_code == 503, behind.text
        assert behind.json()["replica_lag_blocks"] == now[0] - first[0]
        assert behind.json()["reason"] == (f"this replica is {now[0] - first[0]} blocks behind"
                                           " the primary's indexer (at most 2)")  # fmt: skip
        with psycopg.connect(standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        _until(lambda: http.get("/ready").status_code == 200, "the standby caught up")
        caught = meta()
        assert caught["_meta"]["block"]["number"] == now[0]
        assert len(caught["executions"]) > len(seen["executions"])
        # The same answer as the primary's own.
        primary_app = create_app(db.url, chain_id=CHAIN_ID)
        with serve_in_thread(primary_app, lifespan=True) as purl:
            direct = httpx.post(f"{purl}/graphql", json={"query": META}).json()["data"]
        assert caught == direct
