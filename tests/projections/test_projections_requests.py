"""Request events on a real chain: the indexer stores each outcome's signed request, read from
the recordBatch calldata, before the block's logs (executed and rejected alike); a reorg
removes them with their block."""

from __future__ import annotations

import secrets

import orjson
import pytest
from web3 import Web3

from artisan.chain.actions import BatchItem, ModelSpec, record_batch, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.domain.eip712 import execution_id, sign_request
from artisan.domain.types import InferenceRequest
from artisan.indexer.requests import REQUEST_EVENT, request_log_index
from artisan.storage.database import Database
from tests.chain.helpers import new_user

from .chain_support import METER, index, request

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def _recorded(
    store: Database, anvil: Anvil, w3: Web3, protocol: Protocol, deployer: Signer,
    operator: Signer, nonces: list[int],
) -> tuple[list[InferenceRequest], list[bytes]]:  # fmt: skip
    """One batch of a fresh user's requests with these nonces, indexed (not projected)."""
    d = protocol.deployment
    user = new_user(w3, protocol, deployer)
    model = register_model(deployer, protocol, ModelSpec(secrets.token_bytes(32), fixed_price=WAD))
    reqs = [request(user, model, n, secrets.token_bytes(32)) for n in nonces]
    sigs = [sign_request(r, user.key, d.chain_id, d.ledger) for r in reqs]
    record_batch(operator, protocol, [BatchItem(r, s, METER, secrets.token_bytes(32))
                                      for r, s in zip(reqs, sigs, strict=True)])  # fmt: skip
    index(store, anvil, protocol, project=False)
    return reqs, sigs


def test_each_outcome_is_preceded_by_its_signed_request(
    store: Database, anvil: Anvil, w3: Web3, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    d = protocol.deployment
    reqs, sigs = _recorded(store, anvil, w3, protocol, deployer, operator, [0, 1, 1])  # reused
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT event_name, log_index, tx_hash, args::text FROM live_events"
            " WHERE event_name IN ('RequestSigned', 'InferenceExecuted', 'ExecutionRejected')"
            " ORDER BY position"
        ).fetchall()
    names = [r[0] for r in rows]
    assert names == [REQUEST_EVENT] * 3 + ["InferenceExecuted"] * 2 + ["ExecutionRejected"]
    for (_, req_index, req_tx, req_args), (name, out_index, out_tx, out_args), r, sig in zip(
        rows[:3], rows[3:], reqs, sigs, strict=True
    ):
        got, outcome = orjson.loads(req_args), orjson.loads(out_args)
        assert (req_tx, req_index) == (out_tx, request_log_index(out_index))
        assert got["executionId"] == outcome["executionId"]
        assert got["executionId"] == "0x" + execution_id(r, d.chain_id, d.ledger).hex()
        assert (got["user"], got["modelId"], got["maxCost"], got["nonce"], got["deadline"],
                got["signature"], got["executed"]) == (
            r.user.lower(), str(r.model_id), str(r.max_cost), str(r.nonce), str(r.deadline),
            "0x" + sig.hex(), name == "InferenceExecuted")  # fmt: skip


def test_a_reorg_removes_the_request_events_with_their_block(
    store: Database, anvil: Anvil, w3: Web3, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    _recorded(store, anvil, w3, protocol, deployer, operator, [0])
    count = "SELECT count(*) FROM live_events WHERE event_name = 'RequestSigned'"
    with store.connect() as conn:
        assert conn.execute(count).fetchone() == (1,)
    w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_mine", [hex(4)])  # type: ignore[arg-type]
    index(store, anvil, protocol, project=False)
    with store.connect() as conn:
        assert conn.execute(count).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM events WHERE event_name = 'RequestSigned'"
        ).fetchone() == (1,)  # fmt: skip  (kept, removed by the reorg)
