"""The audit of one execution against anvil: honest executions PASS (an ECDSA user and an
EIP-1271 wallet, a price change later in the same block), a tampered row FAILs naming its
column, an execution a reorg removed FAILs naming its block; the CLI and the API agree."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from psycopg.rows import dict_row
from web3 import Web3

from artisan.audit.execution import STORED_REQUEST, STORED_ROW, Audit, audit_execution
from artisan.audit.execution_reads import ExecutionChain
from artisan.chain.actions import BatchItem, ModelSpec, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.contracts import load_artifact
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.config import REPO_ROOT
from artisan.domain.eip712 import execution_id, sign_request
from artisan.domain.types import InferenceRequest
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.graphql.audit import Auditor
from artisan.storage.database import Database
from tests.chain.helpers import chain_snapshot, deployer, new_user, operator, protocol, w3
from tests.projections.chain_support import METER, index

__all__ = ["chain_snapshot", "deployer", "operator", "protocol", "w3"]

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def _request(user: str, model: int, nonce: int) -> InferenceRequest:
    return InferenceRequest(user.lower(), model, secrets.token_bytes(32), secrets.token_bytes(32),
                            1, 10 * WAD, nonce, 2**40)  # fmt: skip


def _wallet(w3: Web3, protocol: Protocol, deployer: Signer) -> tuple[str, bytes]:
    """An EIP-1271 wallet with escrow on the ledger, and its owner's key."""
    owner_key = secrets.token_bytes(32)
    artifact = load_artifact(REPO_ROOT / "build" / "contracts" / "test", "MockWallet")
    wallet = deployer.deploy(artifact, Account.from_key(owner_key).address)
    deployer.send(protocol.token.functions.mint(wallet, 10 * WAD))
    w3.provider.make_request("anvil_impersonateAccount", [wallet])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [wallet, hex(10**20)])  # type: ignore[arg-type]
    for fn in (protocol.token.functions.approve(protocol.deployment.ledger, 10 * WAD),
               protocol.ledger.functions.deposit(10 * WAD)):  # fmt: skip
        tx = fn.transact({"from": wallet})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return wallet.lower(), owner_key


@pytest.fixture
def history(
    own_store: Database, anvil: Anvil, w3: Web3, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Two executions by an ECDSA user and one by a wallet in one batch; in the same block,
    after the batch, the model's price changes (the audit must price at the log)."""
    d = protocol.deployment
    user = new_user(w3, protocol, deployer)
    wallet, owner_key = _wallet(w3, protocol, deployer)
    model = register_model(deployer, protocol, ModelSpec(secrets.token_bytes(32),
                                                         fixed_price=WAD))  # fmt: skip
    signed = [(_request(user.address, model, 0), user.key), (_request(user.address, model, 1),
              user.key), (_request(wallet, model, 0), owner_key)]  # fmt: skip
    items = [BatchItem(r, sign_request(r, key, d.chain_id, d.ledger), METER,
                       secrets.token_bytes(32)) for r, key in signed]  # fmt: skip
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        batch = operator.send(protocol.ledger.functions.recordBatch(
            [it.as_tuple() for it in items]), wait=False)  # fmt: skip
        reprice = deployer.send(protocol.registry.functions.setPricing(model, 0, 7 * WAD, [], []),
                                wait=False)  # fmt: skip
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    receipts = [w3.eth.wait_for_transaction_receipt(tx) for tx in (batch, reprice)]
    assert [r["status"] for r in receipts] == [1, 1]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]  # one block, price after
    index(own_store, anvil, protocol)
    ids = ["0x" + execution_id(r, d.chain_id, d.ledger).hex() for r, _ in signed]
    yield {"ids": ids, "model": model, "wallet": wallet, "block": receipts[0]["blockNumber"],
           "items": items}  # fmt: skip


def audit(db: Database, anvil: Anvil, protocol: Protocol, key: str) -> Audit:
    with db.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
        stored = cur.execute(STORED_ROW, (key,)).fetchone()
        request = cur.execute(STORED_REQUEST, (key,)).fetchone()
    with ExecutionChain(anvil.rpc_url, protocol.deployment, protocol.artifacts) as chain:
        return audit_execution(chain, key, stored, store_head=None,
                               stored_request=request and request["args"])  # fmt: skip


def test_honest_executions_pass_ecdsa_and_eip1271(
    own_store: Database, anvil: Anvil, protocol: Protocol, history: dict[str, Any]
) -> None:
    first, second, by_wallet = (audit(own_store, anvil, protocol, k) for k in history["ids"])
    for a in (first, second, by_wallet):
        assert a.verdict == "PASS", a.reasons
        names = {c.name for c in a.checks}
        assert {"block", "receipt", "digest", "signature", "rates", "cost", "maxCost",
                "settlements", "settlements.sum", "store"} <= names  # fmt: skip
        cost = int(a.evidence["log"]["args"]["cost"])
        assert sum(int(s["amount"]) for s in a.evidence["settlements"]) == cost
        # Priced at the log: the fixed price before the same block's change to 7 WAD.
        assert a.evidence["metering"]["terms"][str(history["model"])]["fixed_price"] == str(WAD)
    assert first.evidence["signer"]["kind"] == second.evidence["signer"]["kind"] == "ECDSA"
    assert by_wallet.evidence["signer"] == {"kind": "EIP-1271", "wallet": history["wallet"],
                                            "answer": "0x1626ba7e"}  # fmt: skip
    # The user's second execution counts the first (the tier rule's prior count).
    assert (first.evidence["metering"]["priorExecutions"],
            second.evidence["metering"]["priorExecutions"]) == (0, 1)  # fmt: skip
    assert first.evidence["request"]["batchSize"] == 3


@pytest.mark.parametrize(
    ("column", "tamper"),
    [
        ("cost", "cost = cost + 1"),
        ("credit_amounts", "credit_amounts[1] = credit_amounts[1] - 1"),
        ("input_digest", "input_digest = '0x' || repeat('ab', 32)"),
        ("request.maxCost", None),
    ],
)
def test_a_tampered_row_fails_naming_its_column(
    own_store: Database, anvil: Anvil, protocol: Protocol, history: dict[str, Any],
    column: str, tamper: str | None,
) -> None:  # fmt: skip
    key = history["ids"][0]
    with own_store.connect() as conn:
        if tamper is None:  # the request event the indexer stored from the calldata
            conn.execute("UPDATE events SET args = jsonb_set(args, '{maxCost}', '\"1\"')"
                         " WHERE event_name = 'RequestSigned' AND args->>'executionId' = %s",
                         (key,))  # fmt: skip
        else:
            conn.execute(f"UPDATE proj_executions SET {tamper} WHERE execution_id = %s", (key,))
    got = audit(own_store, anvil, protocol, key)
    assert got.verdict == "FAIL"
    assert [c.name for c in got.checks if not c.ok] == [f"store.{column}"], got.reasons
    assert "our store says" in got.reasons[0]
    # The others are untouched.
    assert audit(own_store, anvil, protocol, history["ids"][1]).verdict == "PASS"


def test_an_execution_whose_block_was_reorged_away_fails(
    own_store: Database, anvil: Anvil, w3: Web3, protocol: Protocol, history: dict[str, Any]
) -> None:
    key = history["ids"][0]
    depth = w3.eth.block_number - history["block"] + 1
    w3.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]
    got = audit(own_store, anvil, protocol, key)
    assert got.verdict == "FAIL"
    failed = {c.name: c.detail for c in got.checks if not c.ok}
    assert set(failed) == {"block", "log"}
    assert (
        f"block {history['block']}" in failed["block"] and "no longer canonical" in failed["block"]
    )


def test_an_id_that_is_not_one_is_refused_by_name(
    own_store: Database, anvil: Anvil, protocol: Protocol
) -> None:
    from artisan.errors import DomainError

    with pytest.raises(DomainError, match="32 bytes of hex"):
        audit(own_store, anvil, protocol, "0x1234")


def test_the_api_and_the_cli_give_the_same_audit_one_per_request(
    own_store: Database, anvil: Anvil, protocol: Protocol, history: dict[str, Any],
    tmp_path: Any,
) -> None:  # fmt: skip
    key = history["ids"][2]
    expected = audit(own_store, anvil, protocol, key).as_json()
    auditor = Auditor(anvil.rpc_url, protocol.deployment, protocol.artifacts)
    app = create_app(own_store.url, chain_id=protocol.deployment.chain_id, max_lag_blocks=1000,
                     auditor=auditor)  # fmt: skip
    query = ("query($id: String!) { audit(executionId: $id) { executionId verdict reasons"
             " checks { name ok detail } evidence } }")  # fmt: skip
    two = ("query($id: String!) { a: audit(executionId: $id) { verdict }"
           " b: audit(executionId: $id) { verdict } }")  # fmt: skip
    with serve_in_thread(app, lifespan=True) as url:
        answer = httpx.post(url + "/graphql", json={"query": query, "variables": {"id": key}},
                            timeout=30).json()  # fmt: skip
        both = httpx.post(url + "/graphql", json={"query": two, "variables": {"id": key}},
                          timeout=30).json()  # fmt: skip
    assert "errors" not in answer, answer
    # Each audit re-reads the node: one per request, the second refused by name.
    assert [e["message"] for e in both["errors"]] == [
        "At most 1 audit per request: each re-reads the node (send one request per execution)"
    ]
    assert both["data"] is None  # the field is non-null: the refusal nulls the answer
    got = answer["data"]["audit"]
    head = expected["evidence"].pop("head")
    assert got["evidence"].pop("head") >= head
    assert got == expected
    deployment = tmp_path / "deployment.json"
    protocol.deployment.save(deployment)
    env = {"ARTISAN_DATABASE_URL": own_store.url, "ARTISAN_RPC_URL": anvil.rpc_url,
           "ARTISAN_DEPLOYMENT_FILE": str(deployment), "ARTISAN_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "artisan.cli", "audit", key, "--json"],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert cli["evidence"].pop("head") >= head
    assert cli == expected


def test_the_signed_requests_are_served_with_their_executions(
    own_store: Database, protocol: Protocol, history: dict[str, Any]
) -> None:
    app = create_app(own_store.url, chain_id=protocol.deployment.chain_id, max_lag_blocks=1000)
    query = ("query($ids: [Bytes!]) { executions(where: {id_in: $ids}) { id request { id user"
             " maxCost nonce deadline signature executed execution { id } } } }")  # fmt: skip
    with serve_in_thread(app, lifespan=True) as url:
        answer = httpx.post(url + "/graphql", json={"query": query,
                            "variables": {"ids": history["ids"]}}, timeout=30).json()  # fmt: skip
    assert "errors" not in answer, answer
    got = {e["id"]: e["request"] for e in answer["data"]["executions"]}
    for key, item in zip(history["ids"], history["items"], strict=True):
        r = item.request
        assert got[key] == {
            "id": key,
            "user": r.user.lower(),
            "maxCost": str(r.max_cost),
            "nonce": str(r.nonce),
            "deadline": str(r.deadline),
            "signature": "0x" + item.signature.hex(),
            "executed": True,
            "execution": {"id": key},
        }
