"""Request events: the signed request behind each ledger outcome, read from its calldata.

An ``InferenceExecuted`` or ``ExecutionRejected`` log carries the execution id, the user and
the model, not what the user signed (max cost, nonce, deadline, the signature). Those are in
the ``recordBatch`` transaction's calldata. For every transaction to the ledger that holds
outcome logs, the indexer reads the transaction (``eth_getTransactionByHash``, batched) with
the range, decodes its items by hand (``chain/abi/ledger.py``), and stores for each outcome a
``RequestSigned`` event of its own: same block, transaction and address, ``log_index`` the
outcome's minus 2**30 (so that the requests of a block come before its logs, in their
outcomes' order), no topics, the request's fields as arguments. A reorg removes them with
their block, and projections replay them like any event.

The ledger records item ``k`` of a batch as the ``k``-th outcome of its transaction; each
pairing is checked against the outcome's user and model before it is stored. A source that
knows no transactions (the scripted fake chain) gives no request events.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

import orjson

from artisan.chain.abi.ledger import (
    EXECUTION_REJECTED_TOPIC,
    INFERENCE_EXECUTED_TOPIC,
    ItemFields,
    decode_record_batch,
)
from artisan.chain.errors import ChainMoved
from artisan.domain.request_events import REQUEST_EVENT, RequestSigned
from artisan.indexer.fetch import FetchedRange
from artisan.indexer.source import ChainSource
from artisan.storage.chain_records import EventRow

log = logging.getLogger(__name__)

_OUTCOMES = (INFERENCE_EXECUTED_TOPIC, EXECUTION_REJECTED_TOPIC)


# Request events sort before every log of their block (the store orders by block and log
# index), among themselves as their outcomes do; no log has a negative index.
_REQUEST_BASE = -(2**30)


def request_log_index(outcome_log_index: int) -> int:
    """The ``log_index`` of the request event of the outcome at this index."""
    return _REQUEST_BASE + outcome_log_index


class RequestEvents:
    """Reads and decodes the calldata behind the ledger's outcome logs."""

    def __init__(self, ledger: str) -> None:
        self.ledger = ledger.lower()

    def fetch(self, source: ChainSource, fetched: FetchedRange) -> FetchedRange:
        """``fetched`` with the calldata of its ledger transactions that hold outcomes."""
        hashes = list(dict.fromkeys(
            str(x["transactionHash"]) for x in fetched.logs
            if x["address"] == self.ledger and x["topics"] and x["topics"][0] in _OUTCOMES
        ))  # fmt: skip
        if not hashes:
            return fetched
        calldata = {}
        for tx_hash, tx in zip(hashes, source.transactions(hashes), strict=True):
            if tx is None:  # it served the transaction's logs: a replica behind, or a reorg
                raise ChainMoved(f"the node does not know {tx_hash}, whose logs it served")
            if str(tx.get("to") or "").lower() == self.ledger:
                calldata[tx_hash] = str(tx["input"])
        return dataclasses.replace(fetched, calldata=calldata)

    def rows(self, rows: Sequence[EventRow], calldata: Mapping[str, str]) -> list[EventRow]:
        """``rows`` (in chain order) with a ``RequestSigned`` row for each outcome whose item
        decoded, in chain order too: a block's requests, in their outcomes' order, before its
        logs (so the store can copy the batch as it is, without sorting it)."""
        if not calldata:
            return list(rows)
        out: list[EventRow] = []
        requests: list[EventRow] = []
        block_start = 0  # where the current block's logs start in ``out``
        block = None
        items: list[ItemFields] = []
        tx, k = None, 0
        for row in rows:
            if row.block_hash != block:
                if requests:  # the block before: its requests go before its logs
                    out[block_start:block_start] = requests
                    requests = []
                block, block_start = row.block_hash, len(out)
            if row.address == self.ledger and row.topics and row.topics[0] in _OUTCOMES:
                if row.tx_hash != tx:
                    tx, k = row.tx_hash, 0
                    items = _items(row.tx_hash, calldata.get(row.tx_hash))
                if k < len(items):
                    request = _request_row(row, items[k])
                    if request is not None:
                        requests.append(request)
                k += 1
            out.append(row)
        if requests:
            out[block_start:block_start] = requests
        return out


def _items(tx_hash: str, calldata: str | None) -> list[ItemFields]:
    if calldata is None:
        return []
    try:
        return decode_record_batch(bytes.fromhex(calldata[2:]))
    except ValueError as exc:
        log.warning("the calldata of %s is not a recordBatch the indexer reads: %s", tx_hash, exc)
        return []


def _word(data: bytes) -> str:
    return "0x" + data.rjust(32, b"\x00").hex()


def _request_row(outcome: EventRow, it: ItemFields) -> EventRow | None:
    """The request event of ``it`` before ``outcome``; None if they do not pair up."""
    topics = outcome.topics
    if len(topics) < 4:
        return None
    executed = topics[0] == INFERENCE_EXECUTED_TOPIC
    model, user = (topics[2], topics[3]) if executed else (topics[3], topics[2])
    if int(model, 16) != it.model_id or user != _word(it.user):
        log.warning("item and outcome %s of %s do not pair up: no request event",
                    outcome.log_index, outcome.tx_hash)  # fmt: skip
        return None
    args: RequestSigned = {
        "executionId": topics[1], "user": "0x" + it.user.hex(), "modelId": str(it.model_id),
        "inputDigest": "0x" + it.input_digest.hex(), "paramsHash": "0x" + it.params_hash.hex(),
        "priority": str(it.priority), "maxCost": str(it.max_cost), "nonce": str(it.nonce),
        "deadline": str(it.deadline), "signature": "0x" + it.signature.hex(),
        "meter": [str(m) for m in it.meter], "outputDigest": "0x" + it.output_digest.hex(),
        "executed": executed,
    }  # fmt: skip
    return outcome._replace(
        log_index=request_log_index(outcome.log_index), event_name=REQUEST_EVENT,
        args_json=orjson.dumps(args).decode(), topics=[], data="0x",
    )  # fmt: skip


__all__ = ["REQUEST_EVENT", "RequestEvents", "request_log_index"]
