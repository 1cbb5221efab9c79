"""Fixtures of the GraphQL tests: one projected synthetic history for the package, served by
the real app on uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.rewards.closing import close_epoch
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.projections.support import CHAIN_ID, fresh_store, write

from .support import BIG, BLOCKS, REJECTED, REWARDS, WHALE, History


@pytest.fixture(scope="package")
def seeded(pg_server: Database) -> Iterator[tuple[Database, History]]:
    for db in fresh_store(pg_server):
        gen = HistoryGenerator(11, chain_id=CHAIN_ID)
        blocks = gen.blocks(BLOCKS, txs=6)
        # The model of the first execution: its terms change after it ran.
        executed = [e for b in blocks for e in b.rows if e.event_name == "InferenceExecuted"]
        model_id = int(orjson.loads(executed[0].args_json or "{}")["modelId"])
        # Block BLOCKS+1: new terms for the first model; BLOCKS+2: a deposit of 2**256 - 1.
        blocks.append(gen.mine([("PricingSet", {
            "modelId": model_id, "pricingKind": 0, "fixedPrice": 123_456_789,
            "thresholds": [], "prices": []})]))  # fmt: skip
        blocks.append(gen.mine([("Deposited", {"user": WHALE, "amount": BIG})]))
        # Block BLOCKS+3: a request the ledger refused (no escrow).
        blocks.append(gen.mine([("ExecutionRejected", {
            "executionId": REJECTED, "user": WHALE, "modelId": model_id,
            "operator": "0x" + "cd" * 20, "reason": 8})]))  # fmt: skip
        with SeedWriter(db, CHAIN_ID) as writer:
            write(writer, blocks)
        run_once(db, CHAIN_ID)
        # The first reward epoch (blocks 1..EPOCH_LENGTH) closed here: its tree and proofs.
        with db.connect() as conn, conn.transaction():
            close_epoch(conn, REWARDS, 1)
        yield db, History(blocks)


@pytest.fixture(scope="package")
def client(seeded: tuple[Database, History]) -> Iterator[httpx.Client]:
    db, _ = seeded
    app = create_app(db.url, chain_id=CHAIN_ID, max_lag_blocks=0)
    with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture
def history(seeded: tuple[Database, History]) -> History:
    return seeded[1]


@pytest.fixture
def own_store(pg_server: Database) -> Iterator[Database]:
    """A database of this test's own, for histories that change under the API."""
    yield from fresh_store(pg_server)
