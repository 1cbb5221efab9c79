"""Shared by the projection tests on anvil: requests, the protocol's ABIs, index-and-project."""

from __future__ import annotations

import secrets
from typing import Any

from web3 import Web3

from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.actions import BatchItem, ModelSpec, record_batch, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.eip712 import sign_request
from artisan.domain.types import InferenceRequest, Meter
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections.rewards.publisher import (
    ChainPublisher,
    Contracts,
    Published,
    PublisherConfig,
)
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from tests.chain.helpers import User, new_user

METER = Meter(input_units=64, gpu_micros=150, latency_micros=2_000, storage_bytes=512,
              concurrent_load=1)  # fmt: skip
FINALITY = 3
EPOCH_LENGTH = 40


def request(user: User, model_id: int, nonce: int, input_digest: bytes) -> InferenceRequest:
    return InferenceRequest(user.address, model_id, input_digest, secrets.token_bytes(32), 1,
                            10 * WAD, nonce, 2**40)  # fmt: skip


def contracts(protocol: Protocol) -> list[ContractAbi]:
    return [
        ContractAbi(address.lower(), protocol.artifacts[name].abi)
        for name, address in protocol.deployment.addresses().items()
    ]


def index(db: Database, anvil: Anvil, protocol: Protocol, *, project: bool = True) -> None:
    """Backfill the chain into the event store; then, unless told not to, the projections."""
    d = protocol.deployment
    with (
        JsonRpcSource(anvil.rpc_url) as source,
        Indexer(db, source, d.chain_id, contracts(protocol), finality_depth=FINALITY,
                start_block=d.start_block) as indexer,
    ):  # fmt: skip
        indexer.backfill()
    if project:
        run_once(db, d.chain_id)


def executions(w3: Web3, protocol: Protocol, deployer: Signer, operator: Signer, n: int) -> int:
    """``n`` executions of a fresh model by a fresh user; the model's id."""
    d = protocol.deployment
    user = new_user(w3, protocol, deployer)
    model = register_model(deployer, protocol, ModelSpec(secrets.token_bytes(32), fixed_price=WAD))
    items = []
    for nonce in range(n):
        req = request(user, model, nonce, secrets.token_bytes(32))
        sig = sign_request(req, user.key, d.chain_id, d.ledger)
        items.append(BatchItem(req, sig, METER, secrets.token_bytes(32)))
    record_batch(operator, protocol, items)
    return model


def publisher(
    db: Database, anvil: Anvil, protocol: Protocol, key: str, **config: Any
) -> ChainPublisher:
    """The reward publisher of ``key`` (the deployer's, in these tests: a key that also sends
    other transactions, which is the harder case), quick to decide by default."""
    options: dict[str, Any] = {"confirmations": FINALITY, "mint": True, "rebroadcast_after": 0.0,
                               "lost_after": 0.0, **config}  # fmt: skip
    return ChainPublisher(
        db, anvil.rpc_url, key, Contracts.of(protocol.deployment), PublisherConfig(**options)
    )


def publish_until_final(
    publisher: ChainPublisher, w3: Web3, epochs: int = 1, passes: int = 40
) -> list[Published]:
    """Pass after pass, mining a block between passes, until ``epochs`` publications are final."""
    final: list[Published] = []
    for _ in range(passes):
        final += publisher.step()
        if len(final) >= epochs:
            return final
        w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]
    raise AssertionError(f"only {final} final after {passes} passes")
