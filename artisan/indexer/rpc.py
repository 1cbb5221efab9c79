"""A ChainSource over JSON-RPC: raw JSON bodies over httpx, parsed with orjson, batched.

This module is the boundary where HTTP and node errors become ours: timeouts, dropped
connections, rate limits and 5xx are transient; "too many results" (or a log query timing out)
asks for a smaller range; "unknown block" means the chain moved; anything else halts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from artisan.indexer.errors import ChainMoved, LogRangeTooLarge, RpcError, RpcTransientError
from artisan.indexer.gc_pause import gc_paused
from artisan.indexer.source import RawLog
from artisan.storage.chain_records import BlockHeader

_TOO_LARGE = (
    "more than",
    "too many",
    "range is too large",
    "block range",
    "response size",
    "limit exceeded",
    "query timeout",
    "exceed",
)
_MOVED = ("unknown block", "header not found", "block not found")
_TRANSIENT = ("timeout", "timed out", "rate limit", "busy", "try again", "temporar", "unavailable")
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


def _translate(error: Any, method: str) -> Exception:
    """The exception for a JSON-RPC error object answered to ``method``."""
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    text = message.lower()
    where = f"{method}: {message} (code {code})"
    if any(m in text for m in _MOVED):
        return ChainMoved(where)
    if method == "eth_getLogs" and (code == -32005 or any(m in text for m in _TOO_LARGE)):
        return LogRangeTooLarge(where)
    if code == -32005 or code == 429 or any(m in text for m in _TRANSIENT):
        return RpcTransientError(where)
    return RpcError(where, code if isinstance(code, int) else None)


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
        self.max_batch = max_batch
        self._client = httpx.Client(
            timeout=timeout, transport=transport, headers={"content-type": "application/json"}
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JsonRpcSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def head_number(self) -> int:
        return int(self._call("eth_blockNumber", []), 16)

    def headers(self, numbers: Sequence[int]) -> list[BlockHeader | None]:
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        return [None if b is None else _header(b) for b in self._batch(calls)]

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

    def _call(self, method: str, params: list[Any]) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": 0, "method": method, "params": params}, method)
        if not isinstance(reply, dict):
            raise RpcError(f"{method}: malformed reply {reply!r:.200}")
        if "error" in reply:
            raise _translate(reply["error"], method)
        return reply.get("result")

    def _batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(calls), self.max_batch):
            chunk = calls[start : start + self.max_batch]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(chunk)
            ]
            replies = self._post(body, chunk[0][0])
            if isinstance(replies, dict) and "error" in replies:  # the batch refused as a whole
                raise _translate(replies["error"], chunk[0][0])
            if not isinstance(replies, list) or len(replies) != len(chunk):
                raise RpcError(f"{chunk[0][0]}: malformed batch reply {replies!r:.200}")
            ordered: list[Any] = [None] * len(chunk)
            for reply in replies:
                if "error" in reply:
                    raise _translate(reply["error"], chunk[reply.get("id") or 0][0])
                ordered[reply["id"]] = reply.get("result")
            results.extend(ordered)
        return results

    def _post(self, body: Any, method: str) -> Any:
        try:
            response = self._client.post(self.url, content=orjson.dumps(body))
        except httpx.TimeoutException as exc:
            if method == "eth_getLogs":
                raise LogRangeTooLarge(f"{method} timed out after {exc}") from exc
            raise RpcTransientError(f"{method} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise RpcTransientError(f"{method}: cannot reach {self.url}: {exc}") from exc
        if response.status_code in _TRANSIENT_HTTP:
            raise RpcTransientError(f"{method}: HTTP {response.status_code} from {self.url}")
        if response.status_code != 200:
            raise RpcError(f"{method}: HTTP {response.status_code} from {self.url}")
        content = response.content
        try:
            with gc_paused():
                reply = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise RpcTransientError(f"{method}: a reply that is not JSON: {exc}") from exc
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
            for key in _HEX_FIELDS:
                if isinstance(log.get(key), str):
                    log[key] = log[key].lower()
            if isinstance(log.get("topics"), list):
                log["topics"] = [t.lower() if isinstance(t, str) else t for t in log["topics"]]


_HEX_FIELDS = (
    "address",
    "data",
    "blockNumber",
    "blockHash",
    "transactionHash",
    "transactionIndex",
    "logIndex",
)


def _header(block: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        int(block["number"], 16),
        block["hash"].lower(),
        block["parentHash"].lower(),
        int(block["timestamp"], 16),
    )
