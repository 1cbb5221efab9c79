"""Subscriptions: executions emitted on anvil arrive as soon as the projections commit them,
over graphql-transport-ws; a connection's subscriptions are limited, and a browser from a
site not allowed is refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from artisan.chain.actions import ModelSpec, register_model
from artisan.chain.anvil import Anvil
from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.graphql.live import MAX_BEHIND
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.chain.helpers import chain_snapshot, deployer, operator, protocol, w3
from tests.projections.chain_support import executions, index
from tests.projections.support import CHAIN_ID, write

from .live_support import Subscriber

__all__ = ["chain_snapshot", "deployer", "operator", "protocol", "w3"]

pytestmark = pytest.mark.usefixtures("chain_snapshot")


@pytest.fixture
def served(own_store: Database, protocol: Protocol) -> Iterator[str]:
    app = create_app(own_store.url, chain_id=protocol.deployment.chain_id,
                     max_lag_blocks=1000, max_subscriptions=2,
                     allowed_origins=("http://dashboard.example",))  # fmt: skip
    with serve_in_thread(app, lifespan=True) as url:
        yield url


def test_executions_emitted_on_anvil_arrive_by_subscription(
    own_store: Database, served: str, anvil: Anvil, w3: Web3, protocol: Protocol,
    deployer: Signer, operator: Signer,
) -> None:  # fmt: skip
    index(own_store, anvil, protocol)  # the deployment: the API has a head
    with Subscriber(served) as client:
        first = client.subscribe(
            "subscription($w: Execution_filter) { executions(where: $w)"
            " { id modelId cost settlements { amount } model { id } } }"
        )
        client.subscribe("subscription { blocks { number } }")
        # One block with an event first (a block without one moves no projection, so wakes
        # nobody): its message shows the subscriptions are live before the executions come.
        register_model(deployer, protocol, ModelSpec(secrets.token_bytes(32)))
        index(own_store, anvil, protocol)
        assert "blocks" in client.next()["payload"]["data"]
        model = executions(w3, protocol, deployer, operator, 3)
        index(own_store, anvil, protocol)
        got: list[dict[str, Any]] = []
        blocks = 0
        while len(got) < 3 or blocks < 1:  # the two subscriptions' messages interleave
            message = client.next()
            assert message["type"] == "next", message
            if message["id"] == first:
                got.append(message["payload"]["data"]["executions"])
            else:
                blocks += 1
    assert blocks >= 1
    assert {e["modelId"] for e in got} == {str(model)}
    assert all(e["model"] == {"id": str(model)} for e in got)
    assert all(sum(int(s["amount"]) for s in e["settlements"]) == int(e["cost"]) for e in got)


def test_subscriptions_are_limited_per_connection_and_by_origin(
    own_store: Database, served: str, anvil: Anvil, protocol: Protocol
) -> None:
    index(own_store, anvil, protocol)
    with Subscriber(served) as client:
        client.subscribe("subscription { blocks { number } }")
        client.subscribe("subscription { reorgs { id } }")
        third = client.subscribe("subscription { blocks { number } }")
        message = client.next()
        assert message["id"] == third and message["payload"]["data"] is None, message
        assert message["payload"]["errors"][0]["message"] == (
            "At most 2 subscriptions per connection: this one already has 2"
        )
    with Subscriber(served, origin="http://dashboard.example"):
        pass  # allowed
    with pytest.raises(Exception, match=r"4403|403|rejected|closed"):
        Subscriber(served, origin="http://elsewhere.example")


def test_a_closed_connection_ends_its_subscriptions(
    own_store: Database, anvil: Anvil, protocol: Protocol
) -> None:
    """Connections closed as their subscriptions start: each subscription ends with its
    connection, so that the server stops with no grace period to cut them short (on Python
    3.11 a cancellation that psycopg_pool's wait swallowed kept one running for ever)."""
    index(own_store, anvil, protocol)
    for _ in range(20):  # a new app each time: its pool grows while the subscriptions start
        app = create_app(own_store.url, chain_id=protocol.deployment.chain_id,
                         max_lag_blocks=1000, max_subscriptions=2)  # fmt: skip
        # serve_in_thread raises if the server is still running 15 s after the block
        with (
            serve_in_thread(app, lifespan=True, grace=None, stop_timeout=15) as url,
            Subscriber(url) as client,
        ):
            client.subscribe("subscription { blocks { number } }")
            client.subscribe("subscription { reorgs { id } }")
            third = client.subscribe("subscription { blocks { number } }")
            assert client.next()["id"] == third  # refused: the first two are starting


def test_a_subscription_too_far_behind_is_ended_by_name(own_store: Database) -> None:
    """More than 1,000 new executions at once for one subscription: it is ended with an error
    that says so (and how to recover), not buffered; the connection's other subscription goes
    on."""
    gen = HistoryGenerator(23, chain_id=CHAIN_ID)
    with SeedWriter(own_store, CHAIN_ID) as writer:
        write(writer, [*gen.blocks(8, txs=4), gen.next_block(executions=3)])
        run_once(own_store, CHAIN_ID)
        app = create_app(own_store.url, chain_id=CHAIN_ID, max_lag_blocks=10**6)
        with serve_in_thread(app, lifespan=True) as url, Subscriber(url) as client:
            first = client.subscribe("subscription { executions { id } }")
            client.subscribe("subscription { blocks { number } }")
            write(writer, [gen.next_block(executions=2)])
            run_once(own_store, CHAIN_ID)
            seen = [client.next(), client.next(), client.next()]  # two executions, one block
            assert {m["id"] for m in seen} == {first, "2"}, seen
            write(writer, [gen.next_block(executions=MAX_BEHIND + 1)])
            run_once(own_store, CHAIN_ID)
            messages = [client.next()]
            while messages[-1]["id"] != first:
                messages.append(client.next())
    assert messages[-1]["type"] == "next" and messages[-1]["payload"]["data"] is None
    assert messages[-1]["payload"]["errors"][0]["message"] == (
        f"The subscription fell more than {MAX_BEHIND} rows behind: subscribe again (and read"
        " what was missed with a query)"
    )
