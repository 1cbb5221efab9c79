"""The one event the indexer writes that no contract emits: ``RequestSigned``, the signed
request behind a ledger outcome, read from its ``recordBatch`` calldata
(``artisan.indexer.requests``). Typed like the contract events (``events.py``): integers as
decimal strings, byte strings as lowercase 0x-hex."""

from __future__ import annotations

from typing import TypedDict

REQUEST_EVENT = "RequestSigned"


class RequestSigned(TypedDict):
    """The arguments of a ``RequestSigned`` event."""

    executionId: str
    user: str
    modelId: str
    inputDigest: str
    paramsHash: str
    priority: str
    maxCost: str
    nonce: str
    deadline: str
    signature: str
    meter: list[str]  # as the operator submitted it: inputUnits .. concurrentLoad
    outputDigest: str
    executed: bool  # executed (InferenceExecuted) or refused (ExecutionRejected)
