"""JSON-RPC wire data as nodes send it, typed (hex strings, parsed where they are used)."""

from __future__ import annotations

from typing import TypedDict


class _RawLogRequired(TypedDict):
    address: str
    topics: list[str]
    data: str
    blockNumber: str
    blockHash: str
    transactionHash: str
    transactionIndex: str
    logIndex: str


class RawLog(_RawLogRequired, total=False):
    """A log object exactly as ``eth_getLogs`` returns it."""

    removed: bool
    blockTimestamp: str


# The hex string fields of a log object (``topics`` is a list of them).
LOG_HEX_FIELDS = ("address", "data", "blockNumber", "blockHash", "transactionHash",
                  "transactionIndex", "logIndex")  # fmt: skip
