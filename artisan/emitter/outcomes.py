"""What the ledger did with the emitter's transactions, read from raw ``eth_getLogs``.

A ``recordBatch`` receipt carries every log of the call, four per item: 1.7 MB for 500 items,
which anvil takes ~11 ms to serve and we ~3 ms to parse. Asked for by the two outcome topics,
the same batch's logs are 0.7 MB, ~3.6 ms and under 1 ms; they were the largest cost of a
confirmation. Only the transactions asked about are decoded (``outcomes_of``), through the one
node transport (``chain.jsonrpc``), no formatters. A log of the wrong shape is a garbled answer
(``NodeUnavailable``: asked again), never a wrong block number.

The caller decides what the logs prove: a transaction's outcomes are complete when there is one
per item of its batch, all in one block (``complete``); anything else is asked of the receipt.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from artisan.chain.abi.ledger import (
    EXECUTION_REJECTED_TOPIC,
    INFERENCE_EXECUTED_TOPIC,
    Outcome,
    outcomes_of,
)
from artisan.chain.errors import NodeUnavailable
from artisan.chain.jsonrpc import JsonRpc

# Either outcome event, from the ledger only.
_TOPICS = [[INFERENCE_EXECUTED_TOPIC, EXECUTION_REJECTED_TOPIC]]

Found = dict[str, list[Outcome]]  # transaction hash -> its outcomes, in log order


def since(rpc: JsonRpc, ledger: str, first_block: int, txs: Collection[str]) -> Found:
    """The outcomes of the transactions ``txs`` in blocks ``first_block`` to the latest."""
    query = {"address": ledger, "topics": _TOPICS, "fromBlock": hex(first_block),
             "toBlock": "latest"}  # fmt: skip
    return _of(rpc.call("eth_getLogs", query), ledger, txs)


def in_blocks(
    rpc: JsonRpc, ledger: str, block_hashes: Sequence[str], txs: Collection[str]
) -> Found:
    """The outcomes of the transactions ``txs`` in the blocks with these hashes (EIP-234: by
    hash, so the logs are those blocks' whatever the node's head is now)."""
    calls = [("eth_getLogs", [{"address": ledger, "topics": _TOPICS, "blockHash": h}])
             for h in block_hashes]  # fmt: skip
    return _of([log for logs in rpc.batch(calls) for log in logs], ledger, txs)


def complete(outcomes: Sequence[Outcome], size: int) -> bool:
    """Whether ``outcomes`` (one transaction's) answer for a whole batch of ``size`` items:
    the ledger logs one outcome per item, so a reverted batch has none and a node that mixes
    two branches in one answer shows two blocks."""
    return len(outcomes) == size and len({o.block_hash for o in outcomes}) == 1


def _of(logs: Any, ledger: str, txs: Collection[str]) -> Found:
    mine: dict[str, list[dict[str, object]]] = {}
    try:
        for log in logs:
            tx = log["transactionHash"]
            if type(tx) is str and (tx := tx.lower()) in txs:
                mine.setdefault(tx, []).append(log)
        return {tx: outcomes_of(group, ledger) for tx, group in mine.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeUnavailable(f"eth_getLogs: a malformed log in the answer ({exc})") from exc
