"""The executor's per-request ledger reads: pooled connections, bounded by concurrency."""

from __future__ import annotations

import os
import threading

import pytest
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.errors import NodeUnavailable
from artisan.chain.ledger_reads import LedgerViews
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.executor.api import error_response
from artisan.testing.rpc_proxy import FaultPlan, RpcProxy

from .helpers import new_user

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connections_are_reused_across_short_lived_threads_and_closed(
    w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer
) -> None:
    """Forty rounds of eight short-lived threads, each reading an account: at most eight
    connections are ever open (one per concurrent reader), and none after ``close``."""
    user = new_user(w3, protocol, deployer)
    before = open_fds()
    views = LedgerViews(protocol, anvil.rpc_url)
    escrows: list[int] = []
    for _ in range(40):
        threads = [
            threading.Thread(
                target=lambda: escrows.append(views.account(user.address, 1, 1).escrow)
            )
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert views.idle_connections() <= 8
    assert len(escrows) == 320 and len(set(escrows)) == 1 and escrows[0] > 0
    assert open_fds() - before <= 8
    views.close()
    assert views.idle_connections() == 0 and open_fds() <= before


def test_a_garbled_answer_is_the_node_failing_not_a_crash(
    w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer
) -> None:
    """Found by the simulation (seed 18 of a 200-seed run): a node that answers an account
    read's ``eth_call`` with a number instead of hex data made admission raise TypeError (an
    HTTP 500 with a traceback). It is ``NodeUnavailable`` naming the call and the answer (a
    503 the client retries), and the same read through a healthy node is right."""
    user = new_user(w3, protocol, deployer)
    with RpcProxy(anvil.rpc_url, FaultPlan({"garbled": 1.0}), seed=18) as proxy:
        views = LedgerViews(protocol, proxy.url)
        with pytest.raises(NodeUnavailable, match=r"eth_call nonceUsed: the node answered 12345"):
            views.account(user.address, 1, 1)
        assert proxy.faults["garbled"] == 1
        # The same for a wallet's code: garbled is not "no code" (an EOA's signature rules).
        with pytest.raises(NodeUnavailable, match=r"eth_getCode: a malformed answer"):
            views.has_code(protocol.deployment.ledger)
        views.close()
    healthy = LedgerViews(protocol, anvil.rpc_url)
    account = healthy.account(user.address, 1, 1)
    assert account.escrow == 100 * WAD and not account.nonce_used and account.usage_count == 0
    assert healthy.has_code(protocol.deployment.ledger) and not healthy.has_code(user.address)
    assert error_response(NodeUnavailable("x")).status_code == 503
    healthy.close()
