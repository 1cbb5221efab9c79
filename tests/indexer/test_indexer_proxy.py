"""The indexer behind the fault-injecting proxy (``artisan.testing.rpc_proxy``): rate limits,
5xx, busy errors, dropped connections, cut answers, refused log queries, a stale head and
latency, while anvil reorganizes under it; the store ends equal to a clean backfill."""

from __future__ import annotations

import threading

import httpx
import pytest

from artisan.chain.anvil import Anvil
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.retry import Backoff
from artisan.storage.database import Database
from artisan.testing.rpc_proxy import KINDS, FaultPlan, RpcProxy

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
