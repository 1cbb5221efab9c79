"""From a signed request over HTTP to a confirmed InferenceExecuted whose fields match."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from web3 import Web3

from artisan.chain.actions import events_in
from artisan.chain.anvil import Anvil
from artisan.chain.codec import meter_from_abi
from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.config import ANVIL_OPERATOR_KEY
from artisan.emitter.emitter import Emitter, wait_idle
from artisan.executor.api import create_app
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore, digest_of
from artisan.executor.client import ExecutorClient
from artisan.executor.serving import serve_in_thread
from artisan.executor.sessions import SessionConfig
from artisan.executor.wire import meter_from_json
from artisan.storage.database import Database
from artisan.testing import onnx_models as models
from tests.executor.api_helpers import Api, rows


@pytest.mark.usefixtures("chain_snapshot")
def test_request_is_confirmed_on_chain_with_matching_fields(
    protocol: Protocol,
    anvil: Anvil,
    fresh_db: Database,
    deployer: Signer,
    operator: Signer,
    w3: Web3,
    tmp_path: Path,
) -> None:
    """Executions recorded by the API are emitted by the emitter; each InferenceExecuted carries
    the receipt's id, digests, meter and cost, escrow falls by exactly those costs, the status
    reads confirmed and the executor releases its holds."""
    store = AssetStore(tmp_path / "assets")
    config = ExecutorConfig(sessions=SessionConfig(prefer_cuda=False))
    d = protocol.deployment
    with (
        open_executor(
            protocol, anvil.rpc_url, store, operator=operator.address, db=fresh_db, config=config
        ) as service,
        serve_in_thread(create_app(service)) as url,
    ):
        client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
        api = Api(client, service, protocol, store, fresh_db, w3, deployer)
        model_id = api.register(models.mlp(8, [16], 4, seed=21))
        user = api.user()
        before = api.escrow(user)
        receipts = [
            client.submit(api.sign(user, model_id, rows(n, seed=n), priority=n % 4), npy=n == 2)
            for n in (1, 2, 3)
        ]
        assert len(service.admission.reservations) == 3
        with Emitter(fresh_db, anvil.rpc_url, ANVIL_OPERATOR_KEY, chain_id=d.chain_id,
                     ledger=d.ledger) as emitter:  # fmt: skip
            wait_idle(emitter, timeout=30)
        total = 0
        for receipt in receipts:
            view = client.status(receipt["executionId"])
            assert view["status"] == "confirmed" and view["cost"] == receipt["cost"]
            tx = w3.eth.get_transaction_receipt(view["txHash"])
            [event] = [
                e["args"]
                for e in events_in(protocol.ledger, "InferenceExecuted", tx)
                if "0x" + bytes(e["args"]["executionId"]).hex() == receipt["executionId"]
            ]
            assert int(event["modelId"]) == model_id
            assert str(event["user"]).lower() == user.address.lower()
            assert str(event["operator"]).lower() == operator.address.lower()
            assert bytes(event["inputDigest"]) == digest_of(receipt["inputCid"])
            assert bytes(event["outputDigest"]) == digest_of(receipt["outputCid"])
            assert meter_from_abi(event["meter"]) == meter_from_json(receipt["meter"])
            assert int(event["cost"]) == int(receipt["cost"]) <= int(receipt["quote"])
            total += int(event["cost"])
        assert api.escrow(user) == before - total
        deadline = time.monotonic() + 5
        while len(service.admission.reservations) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(service.admission.reservations) == 0
        client.http.close()
