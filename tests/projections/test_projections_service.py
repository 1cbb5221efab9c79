"""The projection service on a real chain and store: woken by the indexer's NOTIFY, closing and
publishing final epochs on schedule, riding out a node that is down, stopping on a conflict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.client import Signer
from artisan.chain.protocol import WAD, Protocol
from artisan.projections import positions
from artisan.projections.epoch_job import epoch_leaves
from artisan.projections.epochs import RewardConfig
from artisan.projections.errors import EpochError
from artisan.projections.publisher import ChainPublisher
from artisan.projections.runner import Runner
from artisan.projections.service import EpochSchedule, ProjectionIntervals, ProjectionService
from artisan.scheduling import build_scheduler
from artisan.storage.database import Database

from .chain_support import EPOCH_LENGTH, FINALITY, executions, index

pytestmark = pytest.mark.usefixtures("chain_snapshot")


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def running(
    store: Database, chain_id: int, epochs: EpochSchedule | None, intervals: ProjectionIntervals
) -> Iterator[ProjectionService]:
    scheduler = build_scheduler()
    scheduler.start()
    with Runner(store, chain_id) as runner:
        service = ProjectionService(runner, scheduler, epochs=epochs, intervals=intervals)
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

    def published_root(self, epoch: int) -> str | None:
        self.calls += 1
        if self.down > 0:
            self.down -= 1
            raise ConnectionError("connection refused (injected)")
        return self.inner.published_root(epoch)

    def publish(self, epoch: int, from_block: int, to_block: int, total: int, root: str) -> str:
        return self.inner.publish(epoch, from_block, to_block, total, root)


def test_epoch_job_closes_and_publishes_once_final_riding_out_a_node_outage(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    """An epoch stays open until its end is final; then the job closes it, stores its leaves,
    and publishes the root on chain, after two runs that could not reach the node."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 4)
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=50 * WAD)
    publisher = FlakyPublisher(ChainPublisher(protocol, deployer, mint=True), down=2)
    schedule = EpochSchedule(config, FINALITY, publisher)
    fast = ProjectionIntervals(catch_up=0.1, epochs=0.1)
    with running(store, d.chain_id, schedule, fast) as service:
        index(store, anvil, protocol, project=False)
        time.sleep(0.5)  # several epoch runs: the epoch has not ended
        with store.connect() as conn:
            assert conn.execute("SELECT count(*) FROM reward_epochs").fetchone() == (0,)
        last = config.bounds(1)[1]
        w3.provider.make_request("anvil_mine", [hex(last + FINALITY + 1 - w3.eth.block_number)])  # type: ignore[arg-type]
        index(store, anvil, protocol, project=False)

        def published() -> bool:
            with store.connect() as conn:
                row = conn.execute(
                    "SELECT publish_tx IS NOT NULL FROM reward_epochs WHERE epoch = 1"
                ).fetchone()
            return row == (True,)

        wait_for(published)
        assert service.failure is None
    assert publisher.down == 0 and publisher.calls >= 3  # two outages, then the real call
    with store.connect() as conn:
        root = conn.execute("SELECT root FROM reward_epochs WHERE epoch = 1").fetchone()
        leaves = epoch_leaves(conn, 1)
    assert root is not None and publisher.inner.published_root(1) == root[0]
    assert sum(leaf.amount for leaf in leaves) == 50 * WAD


class ConflictingPublisher:
    """A distributor that already holds another root for every epoch."""

    def published_root(self, epoch: int) -> str | None:
        return "0x" + "ab" * 32

    def publish(self, epoch: int, from_block: int, to_block: int, total: int, root: str) -> str:
        raise AssertionError("must not publish over another root")


def test_a_root_conflict_stops_the_service_with_the_error(
    store: Database, w3: Web3, anvil: Anvil, protocol: Protocol, deployer: Signer,
    operator: Signer,
) -> None:  # fmt: skip
    """A deterministic failure is not retried: the service stops and keeps it for its owner."""
    d = protocol.deployment
    genesis = w3.eth.block_number + 1
    executions(w3, protocol, deployer, operator, 2)
    w3.provider.make_request("anvil_mine", [hex(EPOCH_LENGTH + FINALITY + 1)])  # type: ignore[arg-type]
    index(store, anvil, protocol, project=False)
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=WAD)
    schedule = EpochSchedule(config, FINALITY, ConflictingPublisher())
    with running(store, d.chain_id, schedule, ProjectionIntervals(0.1, 0.1)) as service:
        assert service.wait(15.0)
    assert isinstance(service.failure, EpochError)
    assert "holds root 0xabab" in str(service.failure)
    with store.connect() as conn:  # closed and stored; only the publication is refused
        assert conn.execute("SELECT publish_tx FROM reward_epochs").fetchall() == [(None,)]


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
