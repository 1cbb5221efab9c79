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

A websocket upgrade on the same port is tunnelled to the node's websocket (``ws_faults``: the
indexer's newHeads), and each connection draws, from a generator of its own, at most one way to
drop it (``ws_rates``: ``ws_close``, ``ws_stall``, ``ws_cut``) after 0..``ws_max_heads`` of the
node's messages beyond the subscription's answer.

``faults`` counts what was injected by kind. The draws are deterministic for a seed and a
sequence of requests (and of websocket connections); with concurrent clients the order of
requests, and so the mapping of draws to requests, is what the scheduler makes it. A client
that goes away mid-request is counted in ``disconnects``, not printed.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from artisan.testing.ws_faults import WS_KINDS, Tunnels, WsDrop, tunnel

KINDS = ("http_429", "http_5xx", "rpc_error", "drop", "lost_answer", "truncated", "too_many",
         "stale_latest", "latency", "lagging", "garbled")  # fmt: skip


@dataclass(frozen=True)
class FaultPlan:
    """Probability of each fault kind per request (their sum at most 1), of each websocket
    fault kind per websocket connection (likewise), and their bounds."""

    rates: dict[str, float] = field(default_factory=dict)
    stale_blocks: int = 3
    max_latency_s: float = 0.05
    lag_blocks: int = 3
    lag_requests: int = 6
    ws_rates: dict[str, float] = field(default_factory=dict)
    ws_max_heads: int = 3
    ws_max_stall_s: float = 1.0

    def __post_init__(self) -> None:
        for rates, known in ((self.rates, KINDS), (self.ws_rates, WS_KINDS)):
            unknown = set(rates) - set(known)
            if unknown:
                raise ValueError(
                    f"unknown fault kinds {sorted(unknown)}; known: {', '.join(known)}"
                )
            if any(r < 0 for r in rates.values()) or sum(rates.values()) > 1:
                raise ValueError("fault rates are probabilities that sum to at most 1")

    @classmethod
    def uniform(cls, total: float, ws: float = 0.0, **bounds: Any) -> FaultPlan:
        """Every kind at ``total / len(KINDS)``; every websocket kind at ``ws / len(WS_KINDS)``."""
        return cls({k: total / len(KINDS) for k in KINDS},
                   ws_rates={k: ws / len(WS_KINDS) for k in WS_KINDS}, **bounds)  # fmt: skip


class RpcProxy:
    """Serves on 127.0.0.1 (a free port) until closed; ``url`` is what clients are given."""

    def __init__(self, upstream: str, plan: FaultPlan, seed: int) -> None:
        self.upstream, self.plan = upstream, plan
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.disconnects = 0  # clients gone mid-request (their resets are not errors here)
        self._rng = random.Random(seed)
        self._ws_rng = random.Random(f"ws-{seed}")  # apart: HTTP draws stay as they were
        self._lagging: tuple[int, int] | None = None  # (last request, its head) of a lag
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=60, headers={"content-type": "application/json"})
        self.tunnels = Tunnels()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-proxy",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.tunnels.close()
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

    def draw_ws(self) -> WsDrop | None:
        """How the next websocket connection is dropped (None: it is not)."""
        with self._lock:
            x, after, stall = (self._ws_rng.random() for _ in range(3))
            plan = self.plan
            for kind in WS_KINDS:
                rate = plan.ws_rates.get(kind, 0.0)
                if x < rate:
                    self.faults[kind] += 1
                    heads = int(after * (plan.ws_max_heads + 1))
                    return WsDrop(kind, 1 + heads, stall * plan.ws_max_stall_s)
                x -= rate
            return None

    def count_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def node_address(self) -> tuple[str, int]:
        """The node's host and port, where its websocket is (anvil serves both on one)."""
        parts = urllib.parse.urlsplit(self.upstream)
        return parts.hostname or "127.0.0.1", parts.port or 80

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: RpcProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that reset or left its connection is counted; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.proxy.count_disconnect()
            return
        super().handle_error(request, client_address)


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

        def do_GET(self) -> None:
            if self.headers.get("upgrade", "").lower() != "websocket":
                self._send(405, b'{"error": "POST JSON-RPC, or upgrade to a websocket"}')
                return
            head = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items()), "", ""]
            self.close_connection = True
            tunnel(self.connection, self.rfile, "\r\n".join(head).encode("latin-1"),
                   proxy.node_address(), proxy.draw_ws(), proxy.tunnels)  # fmt: skip

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
