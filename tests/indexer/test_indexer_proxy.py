"""The indexer behind the fault-injecting proxy (``artisan.testing.rpc_proxy``): rate limits,
5xx, busy errors, dropped connections, cut answers, refused log queries, a stale head and
latency, while anvil reorganizes under it; the store ends equal to a clean backfill. Its head
websocket, through the same proxy, dropped again and again: nothing is lost either."""

from __future__ import annotations

import socket
import struct
import threading

import httpx
import pytest

from artisan.chain.anvil import Anvil
from artisan.indexer.follow import IndexerService, ServiceIntervals, build_scheduler
from artisan.indexer.heads import NewHeads
from artisan.indexer.indexer import Indexer
from artisan.indexer.pruning import BlockPruner
from artisan.indexer.rpc import JsonRpcSource
from artisan.indexer.target import http_and_ws
from artisan.retry import Backoff
from artisan.storage.database import Database
from artisan.testing.rpc_proxy import KINDS, FaultPlan, RpcProxy
from artisan.testing.ws_faults import WS_KINDS

from .indexer_anvil import TokenChain
from .indexer_support import CHAIN_ID, CLEAN_CHAIN_ID, live_rows, wait_until


@pytest.mark.parametrize("seed", [1, 2])
def test_the_indexer_converges_through_faults_and_reorgs(
    fresh_db: Database, token_anvil: TokenChain, seed: int
) -> None:
    contracts = [token_anvil.token]
    stop = threading.Event()
    plan = FaultPlan.uniform(0.5, max_latency_s=0.02)
    with (
        RpcProxy(token_anvil.node.rpc_url, plan, seed) as proxy,
        JsonRpcSource(proxy.url, timeout=5.0) as source,
        Indexer(fresh_db, source, CHAIN_ID, contracts, finality_depth=32,
                backoff=Backoff(base=0.005, cap=0.05, max_failures=60)) as indexer,
    ):  # fmt: skip
        follower = threading.Thread(target=indexer.follow, args=(stop, 0.01))
        follower.start()
        try:
            for depth in [1, 3, 2, 4]:
                token_anvil.mint_blocks(depth + 2, 3)
                wait_until(lambda: indexer.checkpoint.number == token_anvil.head(), 60.0)
                token_anvil.reorg(depth, txs_per_block=2)
            token_anvil.mint_blocks(2, 3)
            head = token_anvil.head()
            wait_until(lambda: indexer.checkpoint.number == head, 60.0)
        finally:
            stop.set()
            follower.join()
        faults = dict(proxy.faults)
    with fresh_db.connect() as conn:
        depths = [r[0] for r in conn.execute("SELECT depth FROM reorgs ORDER BY id")]
    assert depths == [1, 3, 2, 4]  # each reorg once, none made up by a stale head
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as clean_source,
        Indexer(fresh_db, clean_source, CLEAN_CHAIN_ID, contracts, finality_depth=32) as clean,
    ):
        clean.backfill()
    assert live_rows(fresh_db, CHAIN_ID) == live_rows(fresh_db, CLEAN_CHAIN_ID)
    assert sum(faults.values()) >= 5 and len(faults) >= 3, faults  # the faults were there


def test_the_same_seed_draws_the_same_faults(token_anvil: TokenChain) -> None:
    plan = FaultPlan.uniform(0.8)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    seen = []
    for _ in range(2):
        with RpcProxy(token_anvil.node.rpc_url, plan, seed=7) as proxy, httpx.Client() as http:
            statuses = []
            for _ in range(40):
                try:
                    statuses.append(http.post(proxy.url, json=body, timeout=5).status_code)
                except httpx.HTTPError:
                    statuses.append(-1)  # dropped
            seen.append((statuses, dict(proxy.faults)))
    assert seen[0] == seen[1]
    assert set(seen[0][1]) <= set(KINDS) and sum(seen[0][1].values()) > 10


def test_a_plan_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan({"meteor": 0.1})
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultPlan({"drop": 0.7, "http_429": 0.6})


def test_the_chain_id_is_read_through_a_faulty_node(anvil: Anvil) -> None:
    """At start, the indexer asks the node's chain id: a cut, garbled or refused answer is
    retried, not a halt (the simulation found `artisan index` exiting on the first one)."""
    from artisan.indexer.target import node_chain_id

    plan = FaultPlan({"truncated": 0.3, "garbled": 0.2, "http_5xx": 0.2})
    with RpcProxy(anvil.rpc_url, plan, seed=4) as proxy:
        for _ in range(5):
            assert node_chain_id(proxy.url) == 31337
        assert sum(proxy.faults.values()) >= 3, proxy.faults


def test_the_indexer_loses_no_block_while_its_head_websocket_drops(
    fresh_db: Database, token_anvil: TokenChain
) -> None:
    """Every newHeads connection through the proxy is reset, stalled or cut after 0..2 heads:
    the service resubscribes each time, polls meanwhile, and indexes every block of the chain
    (reorgs included) exactly as a clean backfill does."""
    contracts = [token_anvil.token]
    plan = FaultPlan(ws_rates={k: 1 / len(WS_KINDS) for k in WS_KINDS}, ws_max_heads=2,
                     ws_max_stall_s=0.5)  # fmt: skip
    scheduler = build_scheduler()
    scheduler.start()
    with (
        RpcProxy(token_anvil.node.rpc_url, plan, seed=5) as proxy,
        JsonRpcSource(proxy.url) as source,
        NewHeads(str(http_and_ws(proxy.url)[1]), max_pause=0.5) as heads,
        Indexer(fresh_db, source, CHAIN_ID, contracts, finality_depth=32) as indexer,
    ):
        service = IndexerService(indexer, scheduler, BlockPruner(fresh_db, CHAIN_ID),
                                 intervals=ServiceIntervals(poll=0.5), heads=heads)  # fmt: skip
        service.start()
        try:
            for n in range(24):
                token_anvil.mint_blocks(1, 2)
                if n % 8 == 7:
                    token_anvil.reorg(2, txs_per_block=1)
                tip = token_anvil.rpc("eth_getBlockByNumber", "latest", False)["hash"]
                wait_until(lambda t=tip: indexer.checkpoint.hash == t, 30.0)  # type: ignore[misc]
        finally:
            service.stop()
            scheduler.shutdown()
        assert service.failure is None
        faults, tunnels = dict(proxy.faults), proxy.tunnels
        assert set(faults) == set(WS_KINDS), faults  # every connection dropped, each way seen
        assert tunnels.connections >= 6  # it subscribed again after each drop
        assert tunnels.frames > tunnels.connections  # heads came through the later ones too
    with (
        JsonRpcSource(token_anvil.node.rpc_url) as clean_source,
        Indexer(fresh_db, clean_source, CLEAN_CHAIN_ID, contracts, finality_depth=32) as clean,
    ):
        clean.backfill()
    got, want = live_rows(fresh_db, CHAIN_ID), live_rows(fresh_db, CLEAN_CHAIN_ID)
    # Deployment (2 RoleGranted), 24 blocks of 2 mints, of which 3 reorgs replaced 2 blocks of
    # 2 mints with 2 blocks of 1.
    assert got == want and len(want) == 2 + 24 * 2 - 3 * 2


def test_a_client_gone_mid_request_is_counted_not_printed(
    anvil: Anvil, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client that resets its connection halfway through a request leaves no traceback in
    the proxy's output (it is counted), and the proxy goes on answering."""
    with RpcProxy(anvil.rpc_url, FaultPlan(), seed=1) as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(b"POST / HTTP/1.1\r\nHost: proxy\r\nContent-Length: 100\r\n\r\n{")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        wait_until(lambda: proxy.disconnects == 1)
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        assert httpx.post(proxy.url, json=body, timeout=5).json()["result"] == "0x7a69"
    out, err = capfd.readouterr()
    assert "Traceback" not in err + out and "ConnectionResetError" not in err + out
