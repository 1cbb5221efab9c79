"""A fault-injecting JSON-RPC proxy in front of a node (anvil), for tests and simulations.

Loopback only. Each HTTP request the proxy receives draws at most one fault from a seeded
generator (``FaultPlan``: a probability per kind); the rest pass through to the node unchanged.
The kinds are the ways real nodes and the load balancers in front of them fail:

- ``http_429`` (rate limited) and ``http_5xx`` (500, 502, 503 or 504);
- ``rpc_error``: a JSON-RPC error object a node sends when busy (``-32005``, "try again");
- ``drop``: the connection closed without an answer (a timeout, as the client sees it);
- ``lost_answer``: the request reaches the node, the answer never comes back (a transaction
  sent while its sender believes it failed);
- ``truncated``: the node's answer cut in half (a body that is not JSON);
- ``too_many``: ``eth_getLogs`` refused with "query returned more than 10000 results" (every
  ``eth_getLogs`` of the request, batched or not);
- ``stale_latest``: ``eth_blockNumber`` answered 1..``stale_blocks`` below the head (a node
  behind a load balancer that has not seen the last blocks yet);
- ``latency``: the answer held back up to ``max_latency_s``, then passed through;
- ``lagging``: for the next ``lag_requests`` requests the proxy answers as a replica
  1..``lag_blocks`` behind the head (a load balancer over nodes that lag each other): a lower
  ``eth_blockNumber``, no block above it, no logs above it, "unknown block" for its hashes;
- ``garbled``: well-formed JSON of the wrong shape: a number where hex is due (the head, a
  block's number, a log's block number), a transaction that is a string.

``faults`` counts what was injected by kind. The draws are deterministic for a seed and a
sequence of requests; with concurrent clients the order of requests, and so the mapping of
draws to requests, is what the scheduler makes it. Not yet: a dropping websocket (the indexer's
newHeads).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

KINDS = ("http_429", "http_5xx", "rpc_error", "drop", "lost_answer", "truncated", "too_many",
         "stale_latest", "latency", "lagging", "garbled")  # fmt: skip


@dataclass(frozen=True)
class FaultPlan:
    """Probability of each fault kind per request (their sum at most 1), and its bounds."""

    rates: dict[str, float] = field(default_factory=dict)
    stale_blocks: int = 3
    max_latency_s: float = 0.05
    lag_blocks: int = 3
    lag_requests: int = 6

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        if any(r < 0 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise ValueError("fault rates are probabilities that sum to at most 1")

    @classmethod
    def uniform(cls, total: float, **bounds: Any) -> FaultPlan:
        """Every kind at ``total / len(KINDS)``."""
        return cls({k: total / len(KINDS) for k in KINDS}, **bounds)


class RpcProxy:
    """Serves on 127.0.0.1 (a free port) until closed; ``url`` is what clients are given."""

    def __init__(self, upstream: str, plan: FaultPlan, seed: int) -> None:
        self.upstream, self.plan = upstream, plan
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lagging: tuple[int, int] | None = None  # (last request, its head) of a lag
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=60, headers={"content-type": "application/json"})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-proxy",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._http.close()

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def draw(self) -> tuple[str | None, float]:
        """The fault for the next request (None: none) and a number for its parameters."""
        with self._lock:
            self.requests += 1
            x, extra = self._rng.random(), self._rng.random()
            for kind in KINDS:
                rate = self.plan.rates.get(kind, 0.0)
                if x < rate:
                    self.faults[kind] += 1
                    return kind, extra
                x -= rate
            return None, extra

    def forward(self, body: bytes) -> bytes:
        return self._http.post(self.upstream, content=body).content

    def call(self, call: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = orjson.loads(self.forward(orjson.dumps(call)))
        return answer

    def lag(self, kind: str | None, extra: float) -> int | None:
        """The head of the lagging replica this request is answered by, if any."""
        with self._lock:
            if self._lagging is not None and self.requests <= self._lagging[0]:
                return self._lagging[1]
            self._lagging = None
            if kind != "lagging":
                return None
        real = int(self.call({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"})["result"],
                   16)  # fmt: skip
        head = max(0, real - 1 - int(extra * self.plan.lag_blocks))
        with self._lock:
            self._lagging = (self.requests + self.plan.lag_requests - 1, head)
        return head

    def lagged(self, call: dict[str, Any], head: int) -> dict[str, Any]:
        """``call`` answered by a replica whose head is ``head``."""
        method, params = call.get("method"), call.get("params") or []
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": call.get("id"), "result": hex(head)}
        if method == "eth_getBlockByNumber" and params:
            number = head if params[0] == "latest" else int(params[0], 16)
            if number > head:
                return {"jsonrpc": "2.0", "id": call.get("id"), "result": None}
            return self.call({**call, "params": [hex(number), *params[1:]]})
        answer = self.call(call)
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            logs = answer["result"]
            above = [x for x in logs if int(x["blockNumber"], 16) > head]
            if above and params and "blockHash" in params[0]:
                return _error(call, -32000, "unknown block")
            answer["result"] = [x for x in logs if int(x["blockNumber"], 16) <= head]
        return answer


def _calls(request: Any) -> list[dict[str, Any]]:
    return request if isinstance(request, list) else [request]


def _error(call: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call.get("id"), "error": {"code": code, "message": message}}


def _garble(answer: Any) -> None:
    """Give one answer a field of the wrong type, in place."""
    if not isinstance(answer, dict) or "result" not in answer:
        return
    result = answer["result"]
    if isinstance(result, str):
        answer["result"] = 12345  # a head, a call's data: a number, not hex
    elif isinstance(result, dict) and "number" in result:
        result["number"] = 7  # a block
    elif isinstance(result, dict):
        answer["result"] = "not a transaction"
    elif isinstance(result, list) and result and isinstance(result[0], dict):
        result[0]["blockNumber"] = 7  # a log


def _handler(proxy: RpcProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            kind, extra = proxy.draw()
            try:
                request = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._send(400, b'{"error": "not JSON"}')
                return
            calls = _calls(request)
            lag_head = proxy.lag(kind, extra)
            if lag_head is not None:
                out = [proxy.lagged(c, lag_head) for c in calls]
                self._send(200, orjson.dumps(out if isinstance(request, list) else out[0]))
            elif kind == "http_429":
                self._send(429, b"rate limited")
            elif kind == "http_5xx":
                self._send((500, 502, 503, 504)[int(extra * 4)], b"upstream failed")
            elif kind == "rpc_error":
                answers = [_error(c, -32005, "limit exceeded, try again later") for c in calls]
                self._send(200, orjson.dumps(answers if isinstance(request, list) else answers[0]))
            elif kind == "drop":
                self.close_connection = True
                self.connection.close()
            elif kind == "lost_answer":
                proxy.forward(body)
                self.close_connection = True
                self.connection.close()
            elif kind == "garbled":
                answers = orjson.loads(proxy.forward(body))
                for a in answers if isinstance(answers, list) else [answers]:
                    _garble(a)
                self._send(200, orjson.dumps(answers))
            elif kind == "truncated":
                full = proxy.forward(body)
                self._send(200, full[: len(full) // 2])
            elif kind == "too_many" and any(c.get("method") == "eth_getLogs" for c in calls):
                answers = orjson.loads(proxy.forward(body))
                listed = answers if isinstance(answers, list) else [answers]
                by_id = {c.get("id"): c for c in calls}
                out = [_error(a, -32005, "query returned more than 10000 results")
                       if by_id.get(a.get("id"), {}).get("method") == "eth_getLogs" else a
                       for a in listed]  # fmt: skip
                self._send(200, orjson.dumps(out if isinstance(answers, list) else out[0]))
            elif kind == "stale_latest" and any(c.get("method") == "eth_blockNumber"
                                                for c in calls):  # fmt: skip
                answers = orjson.loads(proxy.forward(body))
                listed = answers if isinstance(answers, list) else [answers]
                lag = 1 + int(extra * proxy.plan.stale_blocks)
                methods = {c.get("id"): c.get("method") for c in calls}
                for a in listed:
                    if methods.get(a.get("id")) == "eth_blockNumber" and "result" in a:
                        a["result"] = hex(max(0, int(a["result"], 16) - lag))
                self._send(200, orjson.dumps(answers))
            else:
                if kind == "latency":
                    time.sleep(extra * proxy.plan.max_latency_s)
                self._send(200, proxy.forward(body))

    return Handler
