"""A ChainSource over the one node transport (``artisan.chain.jsonrpc``): headers and logs.

Errors are the transport's (``artisan.chain.errors``): the transient ones are retried, "too
many results" (or a log query timing out) asks for a smaller range, "unknown block" means the
chain moved, anything else halts. What is the indexer's own here is the parse of a log answer:
with the cyclic GC paused, and uppercase hex lowercased (the event store takes lowercase).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import orjson

from artisan.chain.abi.gc_pause import gc_paused
from artisan.chain.errors import NodeUnavailable
from artisan.chain.jsonrpc import JsonRpc
from artisan.chain.types import LOG_HEX_FIELDS
from artisan.indexer.source import RawLog
from artisan.storage.chain_records import BlockHeader


class JsonRpcSource:
    """Reads headers and logs from a JSON-RPC endpoint over HTTP."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_batch: int = 500,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.rpc = JsonRpc(
            url, timeout=timeout, max_batch=max_batch, transport=transport, parse=_parse
        )

    def close(self) -> None:
        self.rpc.close()

    def __enter__(self) -> JsonRpcSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def head_number(self) -> int:
        head = self._call("eth_blockNumber", [])
        with _malformed("eth_blockNumber", head):
            return int(head, 16)

    def headers(self, numbers: Sequence[int]) -> list[BlockHeader | None]:
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        blocks = self._batch(calls)
        with _malformed("eth_getBlockByNumber", blocks):
            return [None if b is None else _header(b) for b in blocks]

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        query = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": addresses}
        result: list[RawLog] = self._call("eth_getLogs", [query])
        return result

    def block_logs(
        self, block_hashes: Sequence[str], addresses: Sequence[str]
    ) -> list[list[RawLog]]:
        calls = [("eth_getLogs", [{"blockHash": h, "address": addresses}]) for h in block_hashes]
        result: list[list[RawLog]] = self._batch(calls)
        return result

    def transactions(self, hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        """The transactions with these hashes, in order (None: unknown to the node)."""
        result: list[dict[str, Any] | None] = self._batch(
            [("eth_getTransactionByHash", [h]) for h in hashes]
        )
        if not all(t is None or _transaction(t) for t in result):
            raise NodeUnavailable(f"eth_getTransactionByHash: a malformed answer {result!r:.200}")
        return result

    def _call(self, method: str, params: list[Any]) -> Any:
        return self.rpc.call(method, *params)

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        return self.rpc.batch(calls)


def _transaction(tx: object) -> bool:
    return isinstance(tx, dict) and isinstance(tx.get("input"), str) and (
        tx.get("to") is None or isinstance(tx.get("to"), str))  # fmt: skip


@contextlib.contextmanager
def _malformed(method: str, answer: Any) -> Iterator[None]:
    """A well-formed JSON answer of the wrong shape is a garbled answer: transient, like one
    that is not JSON (``NodeUnavailable``), never a crash of the process reading it."""
    try:
        yield
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise NodeUnavailable(f"{method}: a malformed answer ({exc}): {answer!r:.200}") from exc


def _parse(content: bytes, method: str) -> Any:
    """orjson with the cyclic GC paused; a log answer's hex fields lowercased if needed."""
    with gc_paused():
        reply = orjson.loads(content)
    if method == "eth_getLogs" and _has_uppercase_hex(content):
        _lowercase_logs(reply)
    return reply


def _has_uppercase_hex(content: bytes) -> bool:
    """Whether a log reply may hold uppercase hex (as in checksummed addresses).

    The keys of a log object hold no uppercase A-F nor X, so none of these bytes anywhere
    means every hex string is lowercase already: seven memchr scans, against a ``lower`` call
    per field of every log.
    """
    return any(c in content for c in (b"A", b"B", b"C", b"D", b"E", b"F", b"X"))


def _lowercase_logs(reply: Any) -> None:
    """Lowercase the hex fields of the logs in a reply (or a batch of replies), in place."""
    for answer in reply if isinstance(reply, list) else [reply]:
        result = answer.get("result") if isinstance(answer, dict) else None
        for log in result if isinstance(result, list) else []:
            if not isinstance(log, dict):
                continue
            for key in LOG_HEX_FIELDS:
                if isinstance(log.get(key), str):
                    log[key] = log[key].lower()
            if isinstance(log.get("topics"), list):
                log["topics"] = [t.lower() if isinstance(t, str) else t for t in log["topics"]]


def _header(block: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        int(block["number"], 16),
        block["hash"].lower(),
        block["parentHash"].lower(),
        int(block["timestamp"], 16),
    )
