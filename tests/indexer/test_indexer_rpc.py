"""The JSON-RPC source: node answers become ours, and a real anvil's reorgs are followed live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from artisan.chain.errors import ChainMoved, LogRangeTooLarge, NodeError, NodeUnavailable
from artisan.indexer.heads import NewHeads
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.storage.database import Database

from .indexer_anvil import TokenChain
from .indexer_support import CHAIN_ID, CLEAN_CHAIN_ID, live_rows, wait_until


def _answering(status: int, reply: object) -> JsonRpcSource:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=orjson.dumps(reply))

    return JsonRpcSource("http://node.test", transport=httpx.MockTransport(handle))


def _raising(exc: Exception) -> JsonRpcSource:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    return JsonRpcSource("http://node.test", transport=httpx.MockTransport(handle))


def _error(code: int, message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 0, "error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("source", "call", "expected"),
    [
        (
            _answering(200, _error(-32005, "query returned more than 10000 results")),
            lambda s: s.logs(0, 9, []),
            LogRangeTooLarge,
        ),
        (
            _answering(200, _error(-32602, "block range is too large")),
            lambda s: s.logs(0, 9, []),
            LogRangeTooLarge,
        ),
        (_raising(httpx.ReadTimeout("slow")), lambda s: s.logs(0, 9, []), LogRangeTooLarge),
        (_raising(httpx.ReadTimeout("slow")), lambda s: s.head_number(), NodeUnavailable),
        (_raising(httpx.ConnectError("refused")), lambda s: s.head_number(), NodeUnavailable),
        (_answering(429, {}), lambda s: s.head_number(), NodeUnavailable),
        (_answering(503, {}), lambda s: s.head_number(), NodeUnavailable),
        (_answering(200, _error(-32000, "unknown block")), lambda s: s.headers([1]), ChainMoved),
        (_answering(200, _error(-32601, "method not found")), lambda s: s.head_number(), NodeError),
        # JSON of the wrong shape is a garbled answer: transient, never a crash.
        (
            _answering(200, {"jsonrpc": "2.0", "id": 1, "result": 12345}),
            lambda s: s.head_number(),
            NodeUnavailable,
        ),
        (
            _answering(
                200,
                [
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "result": {
                            "number": 7,
                            "hash": "0x1",
                            "parentHash": "0x0",
                            "timestamp": "0x1",
                        },
                    }
                ],
            ),
            lambda s: s.headers([1]),
            NodeUnavailable,
        ),
        (
            _answering(200, [{"jsonrpc": "2.0", "id": 1, "result": "not a transaction"}]),
            lambda s: s.transactions(["0x" + "ab" * 32]),
            NodeUnavailable,
        ),
        (_answering(401, {}), lambda s: s.head_number(), NodeError),
    ],
    ids=[
        "too-many-results",
        "range-too-large",
        "logs-timeout",
        "timeout",
        "connect",
        "429",
        "503",
        "unknown-block",
        "method-not-found",
        "garbled-head",
        "garbled-block",
        "garbled-transaction",
        "401",
    ],
)
def test_node_failures_are_translated(
    source: JsonRpcSource, call: Callable[[JsonRpcSource], object], expected: type[Exception]
) -> None:
    """Each kind of node failure becomes the declared error: shrink, retry, refetch or halt."""
    with source, pytest.raises(expected):
        call(source)
    if expected is NodeError:
        assert not issubclass(expected, NodeUnavailable)


def test_source_reads_anvil(token_anvil: TokenChain) -> None:
    """Headers (batched), range logs and per-block logs agree with each other on anvil."""
    token_anvil.mint_blocks(3, 4)
    with JsonRpcSource(token_anvil.node.rpc_url, max_batch=2) as source:
        _check_reads(source, token_anvil)


def _check_reads(source: JsonRpcSource, token_anvil: TokenChain) -> None:
    head = source.head_number()
    headers = source.headers([head - 1, head, head + 1])
    assert headers[2] is None
    assert headers[0] is not None and headers[1] is not None
    assert headers[1].parent_hash == headers[0].hash
    logs = source.logs(head - 2, head, [token_anvil.token.address])
    assert len(logs) == 12
    per_block = source.block_logs([headers[0].hash, headers[1].hash], [token_anvil.token.address])
    assert per_block == [logs[4:8], logs[8:12]]


def test_anvil_reorgs_during_live_indexing(fresh_db: Database, token_anvil: TokenChain) -> None:
    """anvil_reorg of depths 1..5 while following the head: the store equals a fresh backfill."""
    contracts = [token_anvil.token]
    stop = threading.Event()
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as source,
        Indexer(fresh_db, source, CHAIN_ID, contracts, finality_depth=32) as indexer,
    ):
        follower = threading.Thread(target=indexer.follow, args=(stop, 0.01))
        follower.start()
        try:
            for depth in [1, 2, 3, 4, 5, 3, 1, 5]:
                token_anvil.mint_blocks(depth + 1, 3)
                wait_until(lambda: indexer.checkpoint.number == token_anvil.head())
                token_anvil.reorg(depth, txs_per_block=2)
            token_anvil.mint_blocks(2, 3)
            head = token_anvil.head()
            wait_until(lambda: indexer.checkpoint.number == head)
        finally:
            stop.set()
            follower.join()
    with fresh_db.connect() as conn:
        depths = [r[0] for r in conn.execute("SELECT depth FROM reorgs ORDER BY id")]
    assert depths == [1, 2, 3, 4, 5, 3, 1, 5]
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as clean_source,
        Indexer(fresh_db, clean_source, CLEAN_CHAIN_ID, contracts, finality_depth=32) as clean,
    ):
        clean.backfill()
    got, want = live_rows(fresh_db, CHAIN_ID), live_rows(fresh_db, CLEAN_CHAIN_ID)
    # Deployment (2 RoleGranted), the last 2 blocks, and per round (d+1)*3 mints of which the
    # reorg replaced d*3 with d*2.
    assert len(want) == 2 + 2 * 3 + sum(3 + 2 * d for d in [1, 2, 3, 4, 5, 3, 1, 5])
    assert got == want


def test_new_heads_subscription_wakes_the_follower(
    fresh_db: Database, token_anvil: TokenChain
) -> None:
    """With newHeads over websocket, a new block is indexed long before the poll interval."""
    stop = threading.Event()
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as source,
        NewHeads(token_anvil.node.ws_url) as heads,
        Indexer(fresh_db, source, CHAIN_ID, [token_anvil.token]) as indexer,
    ):
        follower = threading.Thread(target=indexer.follow, args=(stop, 30.0, heads))
        follower.start()
        try:
            wait_until(lambda: indexer.checkpoint.number == token_anvil.head())
            token_anvil.mint_blocks(1, 2)
            started = time.monotonic()
            wait_until(lambda: indexer.checkpoint.number == token_anvil.head(), timeout=5.0)
            assert time.monotonic() - started < 2.0
        finally:
            stop.set()
            token_anvil.rpc("anvil_mine", "0x1")  # wake the follower so that it sees `stop`
            follower.join()


def test_new_heads_refused_without_a_websocket() -> None:
    """A node without a websocket endpoint is reported at once, so the caller polls instead."""
    with pytest.raises(NodeError, match="cannot open a websocket"):
        NewHeads("ws://127.0.0.1:9", open_timeout=1.0)
