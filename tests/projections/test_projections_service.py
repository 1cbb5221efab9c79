"""The projection service on a real chain and store: woken by the indexer's NOTIFY, closing and
publishing final epochs on schedule, riding out a node that is down, projecting on while a
publication hangs or is refused, stopping when its database connection is lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.errors import NodeUnavailable
from artisan.chain.protocol import WAD, Protocol
from artisan.chain.signer import Signer
from artisan.config import Settings
from artisan.projections import positions
from artisan.projections.jobs import EpochSchedule, ProjectionIntervals, ProjectionService
from artisan.projections.rewards.closing import epoch_leaves
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.rewards.publisher import ChainPublisher, Published
from artisan.projections.runner import Runner
from artisan.scheduling import build_scheduler
from artisan.storage.database import Database

from .chain_support import EPOCH_LENGTH, FINALITY, executions, index, publisher

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def running(
    store: Database,
    chain_id: int,
    epochs: EpochSchedule | None,
    intervals: ProjectionIntervals,
    on_published: Callable[[list[Published]], None] | None = None,
) -> Iterator[ProjectionService]:
    scheduler = build_scheduler()
    scheduler.start()
    with Runner(store, chain_id) as runner:
        service = ProjectionService(
            runner, scheduler, epochs=epochs, intervals=intervals, on_published=on_published
        )
        service.start()
        try:
            yield service
        finally:
            service.stop()
            scheduler.shutdown()


def executions_projected(store: Database) -> int:
    with store.connect() as conn:
        row = conn.execute("SELECT count(*) FROM execution_trails").fetchone()
    return int(row[0]) if row else 0


def test_notify_wakes_the_catch_up_between_scheduled_runs(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    """With a schedule an hour apart, only the indexer's NOTIFY can bring new events in."""
    d = protocol.deployment
    executions(w3, protocol, deployer, operator, 2)
    index(store, anvil, protocol, project=False)
    hour = ProjectionIntervals(catch_up=3600.0, epochs=3600.0)
    with running(store, d.chain_id, None, hour) as service:
        wait_for(lambda: executions_projected(store) == 2)  # the first run, at start
        for round_ in range(1, 4):
            executions(w3, protocol, deployer, operator, 3)
            index(store, anvil, protocol, project=False)  # commits, and NOTIFYs
            wait_for(lambda r=round_: executions_projected(store) == 2 + 3 * r)  # type: ignore[misc]
        assert service.failure is None and not service.wait(0)
    with store.connect() as conn:
        assert positions.indexed_block(conn, d.chain_id) is not None


class FlakyPublisher:
    """Fault injection around the real publisher: the node is unreachable ``down`` times."""

    def __init__(self, inner: ChainPublisher, down: int) -> None:
        self.inner, self.down, self.calls = inner, down, 0

    def step(self) -> list[Published]:
        self.calls += 1
        if self.down > 0:
            self.down -= 1
            raise NodeUnavailable("connection refused (injected)")
        return self.inner.step()

    def close(self) -> None:
        self.inner.close()


def mine_until(w3: Web3, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Mine a block every 50 ms until ``condition`` holds (the dev chain mines only on
    transactions; a publication becomes final under blocks on top of it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]
        time.sleep(0.05)


def publish_tx(store: Database, epoch: int) -> str | None:
    with store.connect() as conn:
        row = conn.execute("SELECT publish_tx FROM reward_epochs WHERE epoch = %s", (epoch,))
        found = row.fetchone()
    return None if found is None else found[0]


def test_epoch_job_closes_and_publishes_once_final_riding_out_a_node_outage(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer, settings: Settings,
) -> None:  # fmt: skip
    """An epoch stays open until its end is final; then the job closes it, stores its leaves,
    and publishes the root on chain, after two runs that could not reach the node."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 4)
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=50 * WAD)
    flaky = FlakyPublisher(publisher(store, anvil, protocol, settings.key("deployer")), down=2)
    schedule = EpochSchedule(config, FINALITY, flaky)
    fast = ProjectionIntervals(catch_up=0.1, epochs=0.1, publish=0.1)
    published: list[Published] = []
    try:
        with running(store, d.chain_id, schedule, fast, on_published=published.extend) as service:
            index(store, anvil, protocol, project=False)
            time.sleep(0.5)  # several epoch runs: the epoch has not ended
            with store.connect() as conn:
                assert conn.execute("SELECT count(*) FROM reward_epochs").fetchone() == (0,)
            last = config.bounds(1)[1]
            w3.provider.make_request("anvil_mine", [hex(last + FINALITY + 1 - w3.eth.block_number)])  # type: ignore[arg-type]
            index(store, anvil, protocol, project=False)
            mine_until(w3, lambda: publish_tx(store, 1) is not None)
            assert service.failure is None and service.publish_error is None
    finally:
        flaky.close()
    assert flaky.down == 0 and flaky.calls >= 3  # two outages, then real passes
    assert [p.epoch for p in published] == [1] and published[0].tx_hash == publish_tx(store, 1)
    with store.connect() as conn:
        root = conn.execute("SELECT root, total FROM reward_epochs WHERE epoch = 1").fetchone()
        leaves = epoch_leaves(conn, 1)
    assert root is not None
    onchain = protocol.distributor.functions.epochs(1).call()
    assert ("0x" + bytes(onchain[0]).hex(), onchain[3]) == (root[0], int(root[1]))
    assert sum(leaf.amount for leaf in leaves) == 50 * WAD


class StuckPublisher:
    """A publication that hangs (a node that never answers) until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def step(self) -> list[Published]:
        self.entered.set()
        self.release.wait(30.0)
        return []

    def close(self) -> None:
        self.release.set()


def test_a_hung_publication_never_holds_up_the_projections(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    """While a publication is stuck on the node, new events are still projected."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 1)
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=WAD)
    stuck = StuckPublisher()
    schedule = EpochSchedule(config, FINALITY, stuck)
    fast = ProjectionIntervals(catch_up=0.1, epochs=0.1, publish=0.1)
    try:
        with running(store, d.chain_id, schedule, fast) as service:
            assert stuck.entered.wait(10.0)
            for round_ in range(1, 3):
                executions(w3, protocol, deployer, operator, 2)
                index(store, anvil, protocol, project=False)
                wait_for(lambda r=round_: executions_projected(store) == 1 + 2 * r)  # type: ignore[misc]
            assert not stuck.release.is_set() and service.failure is None
            stuck.release.set()
    finally:
        stuck.close()


def test_a_root_conflict_is_reported_and_retried_while_the_projections_go_on(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer, settings: Settings,
) -> None:  # fmt: skip
    """The distributor already holds another root for the epoch: the publish job reports it
    at each run (and sends nothing), the service keeps running and projecting."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 2)
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=WAD)
    first, last = config.bounds(1)
    deployer.send(protocol.token.functions.mint(deployer.address, 5))
    deployer.send(protocol.token.functions.approve(d.distributor, 5))
    deployer.send(protocol.distributor.functions.publishEpoch(1, first, last, 5, b"\xab" * 32))
    w3.provider.make_request("anvil_mine", [hex(last + FINALITY + 1 - w3.eth.block_number)])  # type: ignore[arg-type]
    index(store, anvil, protocol, project=False)
    pub = publisher(store, anvil, protocol, settings.key("deployer"))
    schedule = EpochSchedule(config, FINALITY, pub)
    fast = ProjectionIntervals(catch_up=0.1, epochs=0.1, publish=0.1)
    sent = w3.eth.get_transaction_count(deployer.account.address)
    try:
        with running(store, d.chain_id, schedule, fast) as service:
            wait_for(lambda: service.publish_error is not None)
            assert "holds root 0xabab" in str(service.publish_error)
            executions(w3, protocol, deployer, operator, 1)
            sent = w3.eth.get_transaction_count(deployer.account.address)
            index(store, anvil, protocol, project=False)
            wait_for(lambda: executions_projected(store) == 3)
            assert service.failure is None and not service.wait(0.3)
    finally:
        pub.close()
    assert (
        w3.eth.get_transaction_count(deployer.account.address) == sent
    )  # the publisher sent nothing
    assert publish_tx(store, 1) is None  # closed and stored; only the publication is refused


def test_a_lost_database_connection_stops_the_service(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    """The runner's writer lock lives on its connection: once the server drops it, the service
    stops with the error (for a supervisor to restart) instead of writing without the lock."""
    d = protocol.deployment
    executions(w3, protocol, deployer, operator, 1)
    index(store, anvil, protocol, project=False)
    with running(store, d.chain_id, None, ProjectionIntervals(0.1, 0.1)) as service:
        wait_for(lambda: executions_projected(store) == 1)
        with store.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert service.wait(15.0)
    assert isinstance(service.failure, psycopg.Error)
