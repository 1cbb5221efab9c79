"""The one fast transport to the node: raw JSON-RPC over httpx, parsed with orjson, batched.

Everything that reads the chain in bulk or owns its transactions goes through ``JsonRpc`` (the
indexer's source, the emitter, the reward publisher, the executor's ledger reads): web3's
formatters would spend more time on large answers than the node spends producing them. Web3 is
kept for ABIs, signing and one-off transactions (``chain.signer``).

This module is the boundary where HTTP and node errors become ours (``chain.errors``):
timeouts, dropped connections, rate limits, 5xx and garbled answers (not JSON, or JSON of the
wrong shape for the method: ``shaped``) are ``NodeUnavailable`` (transient); "too many
results" or a timed-out log query is ``LogRangeTooLarge``; "unknown block" is ``ChainMoved``;
any other error object is ``NodeError``. One client per endpoint,
safe to share between threads (httpx pools its connections; ids come from one counter).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson

from artisan.chain.errors import ChainMoved, LogRangeTooLarge, NodeError, NodeUnavailable
from artisan.config import redact_url

Call = tuple[str, Sequence[Any]]
Parse = Callable[[bytes, str], Any]  # (answer body, first method) -> parsed JSON

_TOO_LARGE = ("more than", "too many", "range is too large", "block range", "response size",
              "limit exceeded", "query timeout", "exceed")  # fmt: skip
_MOVED = ("unknown block", "header not found", "block not found")
_TRANSIENT = ("timeout", "timed out", "rate limit", "busy", "try again", "temporar", "unavailable")
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def translate(error: Any, method: str) -> Exception:
    """Our exception for a JSON-RPC error object answered to ``method``."""
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    text = message.lower()
    where = f"{method}: {message} (code {code})"
    if any(m in text for m in _MOVED):
        return ChainMoved(where)
    if method == "eth_getLogs" and (code == -32005 or any(m in text for m in _TOO_LARGE)):
        return LogRangeTooLarge(where)
    if code == -32005 or code == 429 or any(m in text for m in _TRANSIENT):
        return NodeUnavailable(where)
    return NodeError(method, code if isinstance(code, int) else None, message)


def _hex(value: Any) -> bool:
    return type(value) is str and value.startswith("0x")


def _object(*fields: str) -> Callable[[Any], bool]:
    """None (not known), or an object whose ``fields`` are hex strings."""
    return lambda v: v is None or (isinstance(v, dict) and all(_hex(v.get(f)) for f in fields))


_QUANTITY = _hex
# What each answer must look like before anyone parses it: JSON of the wrong shape (a number
# where hex is due, a string where an object is) is a garbled answer like one that is not JSON.
_SHAPES: dict[str, Callable[[Any], bool]] = {
    "eth_blockNumber": _QUANTITY, "eth_chainId": _QUANTITY, "eth_gasPrice": _QUANTITY,
    "eth_getTransactionCount": _QUANTITY, "eth_estimateGas": _QUANTITY,
    "eth_maxPriorityFeePerGas": _QUANTITY, "eth_getBalance": _QUANTITY, "eth_call": _hex,
    "eth_getCode": _hex, "eth_sendRawTransaction": _hex,
    "eth_getBlockByNumber": _object("number", "hash", "parentHash", "timestamp"),
    "eth_getBlockByHash": _object("number", "hash", "parentHash", "timestamp"),
    "eth_getTransactionReceipt": lambda v: _object(
        "blockNumber", "blockHash", "transactionHash", "status")(v) and (
        v is None or isinstance(v.get("logs"), list)),
    "eth_getTransactionByHash": lambda v: v is None or (
        isinstance(v, dict) and _hex(v.get("input")) and (v.get("to") is None or _hex(v["to"]))),
    "eth_getLogs": lambda v: isinstance(v, list),  # each log: the indexer's fetch checks it
}  # fmt: skip


def shaped(method: str, result: Any) -> Any:
    """``result`` if it has the shape ``method`` answers with; else ``NodeUnavailable``."""
    check = _SHAPES.get(method)
    if check is not None and not check(result):
        raise NodeUnavailable(f"{method}: a malformed answer {result!r:.200}")
    return result


def no_code(answer: str) -> bool:
    """Whether an ``eth_getCode`` answer (already ``shaped``) says no contract is there."""
    return answer in ("0x", "0x0")


def _orjson(content: bytes, method: str) -> Any:
    return orjson.loads(content)


class JsonRpc:
    """A JSON-RPC endpoint over HTTP (keep-alive connections, pooled)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_batch: int = 500,
        transport: httpx.BaseTransport | None = None,
        parse: Parse = _orjson,
    ) -> None:
        self.url = url
        self._shown = redact_url(url)  # for messages: no credentials
        self.max_batch = max_batch
        self._parse = parse
        self._ids = itertools.count(1)  # next() is atomic under the GIL: ids never repeat
        self._http = httpx.Client(
            timeout=timeout, transport=transport, headers={"content-type": "application/json"}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *params: Any) -> Any:
        """One call's result; an error object raises (translated)."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        reply = self._post(body, method)
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise NodeUnavailable(f"{method}: malformed answer {reply!r:.200}")
        if "error" in reply:
            raise translate(reply["error"], method)
        return shaped(method, reply["result"])

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Several calls, ``max_batch`` per request; results in call order, the first error
        raises (translated)."""
        results: list[Any] = []
        for start in range(0, len(calls), self.max_batch):
            chunk = calls[start : start + self.max_batch]
            ids = [next(self._ids) for _ in chunk]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in zip(ids, chunk, strict=True)
            ]
            replies = self._post(body, chunk[0][0])
            if isinstance(replies, dict) and "error" in replies:  # refused as a whole
                raise translate(replies["error"], chunk[0][0])
            if not isinstance(replies, list) or len(replies) != len(chunk):
                raise NodeUnavailable(
                    f"a batch of {len(chunk)} calls got a malformed answer {replies!r:.200}"
                )
            # Our ids are ints: a reply with another (a list, an object) answers none of them.
            by_id = {
                r["id"]: r for r in replies if isinstance(r, dict) and type(r.get("id")) is int
            }
            for i, (method, _params) in zip(ids, chunk, strict=True):
                reply = by_id.get(i)
                if reply is None or ("result" not in reply and "error" not in reply):
                    raise NodeUnavailable(f"{method}: no answer in its batch")
                if "error" in reply:
                    raise translate(reply["error"], method)
                results.append(shaped(method, reply["result"]))
        return results

    def _post(self, body: Any, method: str) -> Any:
        try:
            response = self._http.post(self.url, content=orjson.dumps(body))
        except httpx.TimeoutException as exc:
            if method == "eth_getLogs":
                raise LogRangeTooLarge(f"{method} timed out after {exc}") from exc
            raise NodeUnavailable(f"{method} timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise NodeUnavailable(
                f"{method}: cannot reach the node at {self._shown}: {exc}"
            ) from exc
        if response.status_code in _TRANSIENT_HTTP:
            raise NodeUnavailable(f"{method}: HTTP {response.status_code} from {self._shown}")
        if response.status_code != 200:
            raise NodeError(method, None, f"HTTP {response.status_code} from {self._shown}")
        try:
            return self._parse(response.content, method)
        except orjson.JSONDecodeError as exc:
            raise NodeUnavailable(f"{method}: an answer that is not JSON: {exc}") from exc
