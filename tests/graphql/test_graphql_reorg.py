"""Time travel across a real reorganization: anvil's ``anvil_reorg`` replaces the last blocks
while the indexer follows the node and the API serves. A hash the reorg orphaned is refused,
``_meta`` moves to the new branch, and ``reorgs`` and ``blocks`` say what happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from artisan.config import Settings
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from tests.indexer.indexer_anvil import TokenChain, token_chain
from tests.indexer.indexer_support import CHAIN_ID

from .live_support import Subscriber
from .support import data, error

META = "query($h: Bytes) { _meta(block: {hash: $h}) { block { number hash } } }"


@pytest.fixture
def chain(settings: Settings) -> Iterator[TokenChain]:
    yield from token_chain(settings)


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the indexer"
        time.sleep(0.02)


def test_an_orphaned_hash_is_refused_after_a_real_reorg(
    fresh_db: Database, chain: TokenChain
) -> None:
    stop = threading.Event()
    app = create_app(fresh_db.url, chain_id=CHAIN_ID, max_lag_blocks=0)
    with (
        JsonRpcSource(chain.node.rpc_url) as source,
        Indexer(fresh_db, source, CHAIN_ID, [chain.token], finality_depth=32) as indexer,
        serve_in_thread(app, lifespan=True) as url,
        httpx.Client(base_url=url) as http,
    ):
        follower = threading.Thread(target=indexer.follow, args=(stop, 0.01))
        follower.start()
        try:
            chain.mint_blocks(5, 2)
            _wait_until(lambda: indexer.checkpoint.number == chain.head())
            run_once(fresh_db, CHAIN_ID)
            live = Subscriber(url)
            live.subscribe("subscription { reorgs { depth ancestorNumber orphanedHashes } }")
            live.subscribe("subscription { blocks { id number } }")
            chain.mint_blocks(1, 2)  # one more block: the subscriptions are live once it comes
            head = chain.head()
            _wait_until(lambda: indexer.checkpoint.number == head)
            run_once(fresh_db, CHAIN_ID)
            first_block = live.next()["payload"]["data"]["blocks"]
            tip_before = chain.rpc("eth_getBlockByNumber", hex(head), False)["hash"]
            old = chain.rpc("eth_getBlockByNumber", hex(head - 1), False)["hash"]
            before = data(http, META, h=old)["_meta"]["block"]
            chain.reorg(3, txs_per_block=1)
            new_head = chain.head()
            new_tip = chain.rpc("eth_getBlockByNumber", hex(new_head), False)["hash"]
            _wait_until(lambda: indexer.checkpoint.hash == new_tip)
            run_once(fresh_db, CHAIN_ID)
            refused = error(http, META, h=old)
            meta = data(http, "{ _meta { block { number hash } } }")["_meta"]["block"]
            reorgs = data(http, "{ reorgs { depth ancestorNumber oldTipNumber orphanedHashes } }")
            replaced = data(http, "query($n: BigInt) { blocks(where: {number_gt: $n}, orderBy:"
                            " number) { id number } }", n=str(head - 3))  # fmt: skip
            at_ancestor = data(http, "query($n: Int) { reorgs(block: {number: $n}) { id } }",
                               n=head - 3)  # fmt: skip
            heard = [live.next() for _ in range(4)]  # the reorg, and the new branch's blocks
            live.close()
        finally:
            stop.set()
            follower.join()
    assert before == {"number": head - 1, "hash": old}
    assert refused == "no block with that hash found"
    assert meta == {"number": new_head, "hash": new_tip}
    [reorg] = reorgs["reorgs"]
    assert (reorg["depth"], reorg["ancestorNumber"], reorg["oldTipNumber"]) == (
        3,
        str(head - 3),
        str(head),
    )
    assert old in reorg["orphanedHashes"]
    canonical = [chain.rpc("eth_getBlockByNumber", hex(n), False)["hash"]
                 for n in range(head - 2, new_head + 1)]  # fmt: skip
    assert [b["id"] for b in replaced["blocks"]] == canonical
    assert at_ancestor["reorgs"] == []  # as of the common ancestor, nothing was replaced yet
    # Live: the block that made the subscriptions live, then the reorg as it was projected
    # and the three blocks of the new branch, each once.
    assert first_block == {"id": tip_before, "number": str(head)}
    payloads = [m["payload"]["data"] for m in heard]
    reorg_messages = [p["reorgs"] for p in payloads if "reorgs" in p]
    assert reorg_messages == [{"depth": 3, "ancestorNumber": str(head - 3),
                               "orphanedHashes": reorg["orphanedHashes"]}]  # fmt: skip
    new_blocks = [p["blocks"]["id"] for p in payloads if "blocks" in p]
    assert new_blocks == canonical
