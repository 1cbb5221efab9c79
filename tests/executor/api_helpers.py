"""Fixtures of the API tests: an executor on the session's anvil and Postgres, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from web3 import Web3

from artisan.chain.actions import ModelSpec, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.types import Access
from artisan.executor.api import create_app
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy
from artisan.executor.client import ExecutorClient, SignedRequest
from artisan.executor.engine import ExecutorService
from artisan.executor.serving import serve_in_thread
from artisan.executor.sessions import SessionConfig
from artisan.storage.database import Database
from artisan.testing import onnx_models as models
from tests.chain.helpers import User, new_user

MODEL_PRICE = 10**15


@dataclass
class Api:
    """An executor serving over HTTP, and what the tests need around it."""

    client: ExecutorClient
    service: ExecutorService
    protocol: Protocol
    store: AssetStore
    db: Database
    w3: Web3
    deployer: Signer

    def user(self, escrow: int = 10 * WAD) -> User:
        return new_user(self.w3, self.protocol, self.deployer, escrow=escrow)

    def register(
        self, model: bytes, *, access: Access = Access.PUBLIC, price: int = MODEL_PRICE
    ) -> int:
        """Pin a model file and register it (owned by the deployer); its id."""
        asset = self.store.put(model)
        spec = ModelSpec(cid_digest=asset.digest, access=access, fixed_price=price)
        return register_model(self.deployer, self.protocol, spec)

    def sign(self, user: User, model_id: int, tensors: dict[str, Any], **kw: Any) -> SignedRequest:
        kw.setdefault("max_cost", WAD)
        return self.client.sign(user.key, user.address, model_id, tensors, **kw)

    def escrow(self, user: User) -> int:
        return int(self.protocol.ledger.functions.escrowOf(user.address).call())

    def outbox_rows(self, user: User) -> list[tuple[Any, ...]]:
        """The user's outbox rows: execution id, output digest, output CID, meter, status."""
        with self.db.connect() as conn:
            return conn.execute(
                "SELECT execution_id, output_digest, output_cid, input_units, gpu_micros,"
                " latency_micros, storage_bytes, concurrent_load, status, metering"
                " FROM outbox_executions WHERE user_address = %s ORDER BY created_at",
                (bytes.fromhex(user.address[2:]),),
            ).fetchall()


@pytest.fixture
def api(
    protocol: Protocol,
    anvil: Anvil,
    database: Database,
    deployer: Signer,
    operator: Signer,
    w3: Web3,
    tmp_path: Path,
    chain_snapshot: None,
) -> Iterator[Api]:
    """An executor on the CPU, writing to the outbox, served by uvicorn on a free port."""
    store = AssetStore(tmp_path / "assets")
    config = ExecutorConfig(
        batch=BatchPolicy(max_batch_size=8, max_queue_delay_s=0.001),
        sessions=SessionConfig(prefer_cuda=False),
    )
    with (
        open_executor(
            protocol, anvil.rpc_url, store, operator=operator.address, db=database, config=config
        ) as service,
        serve_in_thread(create_app(service)) as url,
    ):
        d = protocol.deployment
        client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
        try:
            yield Api(client, service, protocol, store, database, w3, deployer)
        finally:
            client.http.close()


@pytest.fixture
def mlp_model(api: Api) -> int:
    """A public MLP 8 -> 16 -> 4 (float32, dynamic batch), fixed price 0.001 ART."""
    return api.register(models.mlp(8, [16], 4, seed=11))


def rows(n: int, seed: int = 0) -> dict[str, Any]:
    """``n`` rows of input for the MLP fixture."""
    return {"x": np.random.default_rng(seed).standard_normal((n, 8), dtype=np.float32)}
