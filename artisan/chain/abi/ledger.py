"""``recordBatch`` calldata and the ledger's two outcome events, encoded and decoded by hand.

The emitter encodes hundreds of items per transaction and reads receipts with three logs per
item; web3's ABI machinery costs tens of microseconds per value, which at the target rate
(thousands of executions a second) would make Python the bottleneck. The layouts are fixed by
the contract's ABI, and tests check both directions against eth_abi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from artisan.domain.events import SIGNATURES
from artisan.domain.hashing import keccak
from artisan.domain.types import RejectReason

_ITEM_TYPE = (
    "((address,uint256,bytes32,bytes32,uint8,uint256,uint256,uint256),bytes,"
    "(uint64,uint64,uint64,uint64,uint32),bytes32)"
)
RECORD_BATCH_SELECTOR = keccak(f"recordBatch({_ITEM_TYPE}[])".encode())[:4]
# The signatures come from the ABIs (``artisan.domain.events``, checked against them by a
# test); the word offsets below are checked against eth_abi by the codec's tests.
INFERENCE_EXECUTED_TOPIC = "0x" + keccak(SIGNATURES["InferenceExecuted"].encode()).hex()
EXECUTION_REJECTED_TOPIC = "0x" + keccak(SIGNATURES["ExecutionRejected"].encode()).hex()

# The head of one item: 8 request words, the signature's offset, 5 meter words, the output.
_ITEM_HEAD_WORDS = 15
# Word positions inside InferenceExecuted's data (non-indexed fields, all static).
_EXECUTED_COST_WORD = 10
_REJECTED_REASON_WORD = 1


@dataclass(frozen=True, slots=True)
class ItemFields:
    """One ``Item`` of ``recordBatch`` as plain values (what an outbox row holds)."""

    user: bytes  # 20 bytes
    model_id: int
    input_digest: bytes
    params_hash: bytes
    priority: int
    max_cost: int
    nonce: int
    deadline: int
    signature: bytes
    meter: tuple[int, int, int, int, int]
    output_digest: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the ledger did with one execution, read from a log."""

    execution_id: bytes
    executed: bool
    cost: int | None  # set when executed
    reason: RejectReason | None  # set when rejected
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def encode_item(it: ItemFields) -> bytes:
    """The ABI encoding of one ``Item`` (a dynamic tuple, because of ``signature``)."""
    sig = it.signature
    padded = sig + b"\x00" * (-len(sig) % 32)
    return b"".join(
        (
            b"\x00" * 12 + it.user,
            _word(it.model_id),
            it.input_digest,
            it.params_hash,
            _word(it.priority),
            _word(it.max_cost),
            _word(it.nonce),
            _word(it.deadline),
            _word(_ITEM_HEAD_WORDS * 32),
            *(_word(m) for m in it.meter),
            it.output_digest,
            _word(len(sig)),
            padded,
        )
    )


def record_batch_calldata(encoded_items: Sequence[bytes]) -> bytes:
    """``recordBatch(items)`` calldata from items already encoded by ``encode_item``: selector,
    array offset and length, one offset per item, the items."""
    offsets = []
    position = 32 * len(encoded_items)  # offsets count from the start of the offsets block
    for enc in encoded_items:
        offsets.append(_word(position))
        position += len(enc)
    return b"".join(
        (RECORD_BATCH_SELECTOR, _word(32), _word(len(encoded_items)), *offsets, *encoded_items)
    )


def decode_record_batch(calldata: bytes) -> list[ItemFields]:
    """The items of ``recordBatch`` calldata (the inverse of ``record_batch_calldata``, for
    the indexer's request events: eth_abi takes about 0.3 ms per item). ValueError names
    what is wrong with calldata that is not a well-formed call."""
    if calldata[:4] != RECORD_BATCH_SELECTOR:
        raise ValueError("not a recordBatch call (selector)")
    body = memoryview(calldata)[4:]

    def word(at: int) -> int:
        if at < 0 or at + 32 > len(body):
            raise ValueError(f"recordBatch calldata ends before byte {at + 32}")
        return int.from_bytes(body[at : at + 32], "big")

    array = word(0)
    count = word(array)
    base = array + 32  # item offsets count from here
    if count > len(body) // 32:
        raise ValueError(f"recordBatch calldata cannot hold {count} items")
    items = []
    for i in range(count):
        at = base + word(base + 32 * i)
        if at + _ITEM_HEAD_WORDS * 32 > len(body):
            raise ValueError(f"item {i} of recordBatch calldata is cut short")
        head = [word(at + 32 * k) for k in range(_ITEM_HEAD_WORDS)]
        sig_at = at + head[8]
        size = word(sig_at)
        if sig_at + 32 + size > len(body):
            raise ValueError(f"the signature of item {i} of recordBatch calldata is cut short")
        if head[0] >> 160:
            raise ValueError(f"the user of item {i} of recordBatch calldata is not an address")
        items.append(ItemFields(
            user=head[0].to_bytes(20, "big"), model_id=head[1],
            input_digest=head[2].to_bytes(32, "big"), params_hash=head[3].to_bytes(32, "big"),
            priority=head[4], max_cost=head[5], nonce=head[6], deadline=head[7],
            signature=bytes(body[sig_at + 32 : sig_at + 32 + size]),
            meter=(head[9], head[10], head[11], head[12], head[13]),
            output_digest=head[14].to_bytes(32, "big"),
        ))  # fmt: skip
    return items


def _data_word(data: str, index: int) -> int:
    start = 2 + 64 * index
    return int(data[start : start + 64], 16)


def _hex(log: dict[str, object], key: str) -> str:
    """A log's hex string field; ValueError for anything else (a node's garbled answer must
    not become a block number: ``int(str(7), 16)`` would read a number 7 as 0x7)."""
    value = log[key]
    if type(value) is not str or not value.startswith("0x"):
        raise ValueError(f"the log's {key} is not a hex string: {value!r:.80}")
    return value


def outcomes_of(logs: Sequence[dict[str, object]], ledger: str) -> list[Outcome]:
    """The InferenceExecuted and ExecutionRejected outcomes among raw JSON-RPC logs.

    ValueError, KeyError or TypeError for a log of the wrong shape: the caller's node boundary
    decides what that is (the emitter: a garbled answer, asked again)."""
    ledger = ledger.lower()
    found: list[Outcome] = []
    for log in logs:
        topics = log["topics"]
        if str(log["address"]).lower() != ledger or not isinstance(topics, list) or not topics:
            continue
        topic0, data = topics[0], _hex(log, "data")
        if topic0 == INFERENCE_EXECUTED_TOPIC:
            cost, reason, executed = _data_word(data, _EXECUTED_COST_WORD), None, True
        elif topic0 == EXECUTION_REJECTED_TOPIC:
            reason = RejectReason(_data_word(data, _REJECTED_REASON_WORD))
            cost, executed = None, False
        else:
            continue
        execution_id = topics[1]
        if type(execution_id) is not str or len(execution_id) != 66:
            raise ValueError(f"the log's execution id is not a 32-byte topic: {execution_id!r:.80}")
        found.append(
            Outcome(
                execution_id=bytes.fromhex(execution_id[2:]),
                executed=executed,
                cost=cost,
                reason=reason,
                tx_hash=_hex(log, "transactionHash"),
                block_number=int(_hex(log, "blockNumber"), 16),
                block_hash=_hex(log, "blockHash"),
                log_index=int(_hex(log, "logIndex"), 16),
            )
        )
    return found
