"""The outbox in Postgres and the emitter's hand-written codec, checked without a chain."""

from __future__ import annotations

import secrets

import pytest
from eth_abi.abi import encode
from web3 import Web3

from artisan.chain.abi.ledger import (
    EXECUTION_REJECTED_TOPIC,
    INFERENCE_EXECUTED_TOPIC,
    encode_item,
    outcomes_of,
    record_batch_calldata,
)
from artisan.chain.codec import item_tuple
from artisan.chain.contracts import load_artifact
from artisan.chain.errors import NodeUnavailable
from artisan.chain.transactions import Fees, SignedTx, bumped_fees
from artisan.config import Settings
from artisan.domain.types import InferenceRequest, Meter, RejectReason
from artisan.emitter.config import EmitterConfig
from artisan.emitter.errors import InvalidEmitterConfig
from artisan.emitter.sender import Sender
from artisan.executor import outbox
from artisan.executor.outbox import OutboxEntry, OutboxStatus
from artisan.storage.database import Database

LEDGER = "0x" + "ab" * 20
OPERATOR = "0x" + "cd" * 20


def _request(nonce: int) -> InferenceRequest:
    return InferenceRequest(
        user="0x" + secrets.token_hex(20),
        model_id=secrets.randbelow(2**64),
        input_digest=secrets.token_bytes(32),
        params_hash=secrets.token_bytes(32),
        priority=nonce % 4,
        max_cost=secrets.randbelow(2**200),
        nonce=nonce,
        deadline=2**40 + nonce,
    )


def _meter() -> Meter:
    u64 = [secrets.randbelow(2**64) for _ in range(4)]
    return Meter(u64[0], u64[1], u64[2], u64[3], concurrent_load=secrets.randbelow(2**32))


def _execution(nonce: int) -> OutboxEntry:
    return OutboxEntry.create(
        _request(nonce), secrets.token_bytes(65), _meter(), secrets.token_bytes(32),
        f"bafk-{nonce}", chain_id=31337, ledger=LEDGER, operator=OPERATOR,
        metering={"batch_id": "x", "batch_size": 3, "share_ppm": 333_333},
    )  # fmt: skip


def test_calldata_matches_the_contract_abi(settings: Settings) -> None:
    """Hand-encoded recordBatch calldata equals web3's encoding from the compiled ABI."""
    ledger = Web3().eth.contract(abi=load_artifact(settings.artifacts_dir, "ExecutionLedger").abi)
    executions = [_execution(n) for n in range(5)]
    # Signatures of other lengths (EIP-1271 wallets) pad differently.
    executions[1] = OutboxEntry(**{**vars(executions[1]), "signature": b""})
    executions[2] = OutboxEntry(**{**vars(executions[2]), "signature": secrets.token_bytes(97)})
    tuples = [item_tuple(e.request, e.signature, e.meter, e.output_digest) for e in executions]
    expected = bytes.fromhex(ledger.encode_abi("recordBatch", args=[tuples])[2:])
    assert record_batch_calldata([encode_item(e.item_fields()) for e in executions]) == expected
    assert record_batch_calldata([]) == bytes.fromhex(ledger.encode_abi("recordBatch", [[]])[2:])


def test_outcomes_are_read_from_raw_logs(settings: Settings) -> None:
    """InferenceExecuted and ExecutionRejected logs give execution id, cost, reason, block."""
    ledger = Web3().eth.contract(abi=load_artifact(settings.artifacts_dir, "ExecutionLedger").abi)
    assert ledger.events.InferenceExecuted().topic == INFERENCE_EXECUTED_TOPIC
    assert ledger.events.ExecutionRejected().topic == EXECUTION_REJECTED_TOPIC
    ran, refused = secrets.token_bytes(32), secrets.token_bytes(32)
    executed_data = encode(
        ["address", "bytes32", "bytes32", "bytes32", "uint8",
         "(uint64,uint64,uint64,uint64,uint32)", "uint256", "uint32"],
        [OPERATOR, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 2, (1, 2, 3, 4, 5), 12345 * 10**18, 7],
    )  # fmt: skip
    common = {
        "transactionHash": "0x" + "77" * 32,
        "blockNumber": "0x2a",
        "blockHash": "0x" + "88" * 32,
        "logIndex": "0x3",
    }
    logs: list[dict[str, object]] = [
        {"address": LEDGER.upper().replace("0X", "0x"), "topics": [INFERENCE_EXECUTED_TOPIC,
         "0x" + ran.hex(), "0x" + "00" * 32, "0x" + "00" * 32],
         "data": "0x" + executed_data.hex(), **common},
        {"address": LEDGER, "topics": ["0x" + "99" * 32, "0x" + ran.hex()], "data": "0x", **common},
        {"address": "0x" + "ee" * 20, "topics": [EXECUTION_REJECTED_TOPIC, "0x" + ran.hex()],
         "data": "0x", **common},
        {"address": LEDGER, "topics": [EXECUTION_REJECTED_TOPIC, "0x" + refused.hex(),
         "0x" + "00" * 32, "0x" + "00" * 32],
         "data": "0x" + encode(["address", "uint8"], [OPERATOR, 8]).hex(), **common},
    ]  # fmt: skip
    executed, rejected = outcomes_of(logs, LEDGER)
    assert (executed.execution_id, executed.executed, executed.cost) == (ran, True, 12345 * 10**18)
    assert (executed.block_number, executed.block_hash, executed.log_index) == (
        42, common["blockHash"], 3,
    )  # fmt: skip
    assert (rejected.execution_id, rejected.executed, rejected.cost) == (refused, False, None)
    assert rejected.reason is RejectReason.INSUFFICIENT_ESCROW


def test_enqueue_is_idempotent_and_status_is_readable(fresh_db: Database) -> None:
    """An execution is written once under its id; get() reads it back as pending."""
    first, *rest = [_execution(n) for n in range(4)]
    with fresh_db.connect() as conn, conn.transaction():
        assert outbox.enqueue(conn, first)
        assert not outbox.enqueue(conn, first)
        assert outbox.enqueue_many(conn, [*rest, first]) == 3
        assert outbox.enqueue_many(conn, rest) == 0
    status = outbox.get(fresh_db, first.execution_id)
    assert status is not None
    assert (status.status, status.output_cid, status.attempts) == (
        OutboxStatus.PENDING,
        "bafk-0",
        0,
    )
    assert (status.tx_hash, status.nonce, status.cost, status.reject_reason) == (None,) * 4
    assert outbox.get(fresh_db, secrets.token_bytes(32)) is None
    with fresh_db.connect() as conn:
        row = conn.execute(
            "SELECT max_cost, input_units, metering FROM outbox_executions WHERE execution_id = %s",
            (first.execution_id,),
        ).fetchone()
    assert row is not None
    assert (int(row[0]), int(row[1]), row[2]) == (
        first.request.max_cost,
        first.meter.input_units,
        dict(first.metering),
    )


def test_enqueue_rolls_back_with_the_callers_transaction(fresh_db: Database) -> None:
    """An execution enqueued in a transaction that fails is not in the outbox."""
    ex = _execution(1)
    with pytest.raises(RuntimeError), fresh_db.connect() as conn, conn.transaction():
        outbox.enqueue(conn, ex)
        raise RuntimeError("the inference result could not be recorded")
    assert outbox.get(fresh_db, ex.execution_id) is None


def test_replacement_fees_rise_enough_for_the_pool() -> None:
    """A replacement raises both fee caps by more than the 10% nodes require."""
    old = Fees(max_fee=3 * 10**9, priority_fee=10**9)
    new = bumped_fees(old, base_fee=10**9, priority_fee=10**9)
    assert new.priority_fee * 10 >= old.priority_fee * 11
    assert new.max_fee * 10 >= old.max_fee * 11
    assert bumped_fees(Fees(1, 1), 0, 0) == Fees(2, 2)  # even 1 wei grows
    high_market = bumped_fees(old, base_fee=50 * 10**9, priority_fee=10**9)
    assert high_market.max_fee >= 100 * 10**9


def test_config_refuses_nonsense() -> None:
    """A config with no room for a batch fails at construction, naming the field."""
    with pytest.raises(InvalidEmitterConfig, match="max_items"):
        EmitterConfig(max_items=0)
    with pytest.raises(InvalidEmitterConfig, match="max_wait"):
        EmitterConfig(max_wait=-1)


def test_sender_reports_an_unreachable_node_once() -> None:
    """A failed broadcast reaches the emitter's thread once, so a transient outage heals."""
    sender = Sender("http://127.0.0.1:1", lambda _point: None)  # nothing listens on port 1
    try:
        sender.submit(SignedTx(tx_hash="0x" + "00" * 32, raw=b"\x02", nonce=0, max_fee=1,
                               priority_fee=1))  # fmt: skip
        with pytest.raises(NodeUnavailable):
            sender.drain()
        sender.check()  # reported already: nothing left to raise
    finally:
        sender.close()
