"""The demo's downstream stages: emission, indexing, projections, verification and rewards.

They run after the executor stage has written its executions to the outbox, and follow them
through every component: the emitter confirms them on-chain, the indexer stores every protocol
log, the projections build trails, lineage, scores and reward epochs, ``verify`` re-reads the
chain without the event store and finds no mismatch, and a creator claims an epoch reward
with the proof the projection serves.
"""

from __future__ import annotations

import threading

from rich.table import Table

from artisan.audit.chain_reads import LedgerReader, chain_events, protocol_abis
from artisan.audit.verify import verify
from artisan.chain.abi.decoder import ContractAbi
from artisan.chain.protocol import WAD, Protocol
from artisan.demo.state import DemoState, check
from artisan.emitter.config import EmitterConfig
from artisan.emitter.emitter import Emitter, wait_idle
from artisan.indexer.indexer import Indexer
from artisan.indexer.rpc import JsonRpcSource
from artisan.projections import positions
from artisan.projections.balances import stored_at
from artisan.projections.jobs import EpochSchedule, ProjectionIntervals, ProjectionService
from artisan.projections.rewards.closing import ClosedEpoch, proof_for
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.rewards.publisher import (
    ChainPublisher,
    Contracts,
    Published,
    PublisherConfig,
)
from artisan.projections.runner import Runner, run_once
from artisan.scheduling import build_scheduler

# The dev chain mines a block per transaction, so a few blocks on top make a block final.
FINALITY = 2
EPOCH_LENGTH = 200


def _contracts(protocol: Protocol) -> list[ContractAbi]:
    return protocol_abis(protocol.deployment, protocol.artifacts)


def index_and_project(state: DemoState, *, project: bool = True) -> int:
    """Index every protocol log so far, run the projections (unless told not to); the indexed
    tip block."""
    d = state.protocol.deployment
    with (
        JsonRpcSource(state.env.rpc_url) as source,
        Indexer(
            state.env.db,
            source,
            d.chain_id,
            _contracts(state.protocol),
            finality_depth=FINALITY,
            start_block=d.start_block,
        ) as indexer,
    ):
        indexer.backfill()
    if project:
        run_once(state.env.db, d.chain_id)
    with state.env.db.connect() as conn:
        tip = positions.indexed_block(conn, d.chain_id)
    check(tip is not None, "the indexer reached a block")
    assert tip is not None
    return tip


def stage_emission(state: DemoState) -> None:
    """The emitter sends the executor's outbox on-chain in recordBatch transactions, once each."""
    d = state.protocol.deployment
    with state.env.db.connect() as conn:
        pending = conn.execute(
            "SELECT count(*) FROM outbox_executions WHERE status <> 'confirmed'"
        ).fetchone()
    check(pending is not None and pending[0] > 0, "the executor left executions to emit")
    config = EmitterConfig(max_wait=0.05, start_block=d.start_block)
    with Emitter(
        state.env.db,
        state.env.rpc_url,
        state.env.settings.key("operator"),
        chain_id=d.chain_id,
        ledger=d.ledger,
        config=config,
    ) as emitter:
        wait_idle(emitter, timeout=60)
    with state.env.db.connect() as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM outbox_executions GROUP BY status ORDER BY status"
        ).fetchall()
    counts = {str(status): int(n) for status, n in rows}
    check(set(counts) == {"confirmed"}, f"every outbox execution confirmed on-chain: {counts}")
    state.console.print(f"  {counts['confirmed']} executions confirmed on-chain through the outbox")


def stage_index_and_verify(state: DemoState) -> None:
    """The indexer stores every log; projections build trails; verify re-reads the chain."""
    d = state.protocol.deployment
    tip = index_and_project(state)
    with state.env.db.connect() as conn:
        counts = dict(
            conn.execute(
                "SELECT event_name, count(*) FROM live_events WHERE event_name IS NOT NULL"
                " GROUP BY event_name"
            ).fetchall()
        )
        trails = conn.execute(
            "SELECT execution_id, model_id, cost, creator_amount, operator_amount,"
            " treasury_amount, dao_amount, remix_ancestors_amount, rating, block_number"
            " FROM execution_trails ORDER BY block_number, execution_id"
        ).fetchall()
        ranking = conn.execute(
            "SELECT relation, count(*) FROM lineage_edges GROUP BY relation ORDER BY relation"
        ).fetchall()
    executed = int(counts.get("InferenceExecuted", 0))
    check(executed == len(trails) and executed >= 8, "one trail per InferenceExecuted")
    for row in trails:
        cost, parts = int(row[2]), [int(x) for x in row[3:8]]
        check(sum(parts) == cost, "each trail's settlements sum to its cost")
    table = Table("execution", "model", "cost (ART)", "creator", "remix up", "rating", "block")
    for row in trails[:10]:
        table.add_row(
            str(row[0])[:12],
            str(row[1]),
            f"{int(row[2]) / WAD:.6f}",
            f"{int(row[3]) / WAD:.6f}",
            f"{int(row[7]) / WAD:.6f}",
            "-" if row[8] is None else str(row[8]),
            str(row[9]),
        )
    state.console.print(table)
    state.console.print(
        f"  indexed {sum(int(n) for n in counts.values())} events to block {tip}; "
        f"lineage edges {dict(ranking)}"
    )
    events = chain_events(state.env.rpc_url, d, state.protocol.artifacts, tip)
    ledger = LedgerReader(state.env.rpc_url, d, state.protocol.artifacts)
    mismatches = verify(state.env.db, events, block=tip, ledger=ledger)
    check(mismatches == [], f"verify finds the projections equal to the chain: {mismatches}")
    with state.env.db.connect() as conn:
        held = stored_at(conn, tip)
    check(len(held) >= 3, "balances are projected for the users, operator and creators")
    state.console.print(
        f"  verify: projections, costs and digests agree with a fresh chain read, and the"
        f" {len(held)} accounts' escrow, credits and pending withdrawals equal the ledger's"
        f" own state at block {tip}"
    )


def stage_epoch_rewards(state: DemoState) -> None:
    """The projection service's scheduled epoch job closes a final epoch and publishes its
    root; a creator claims from the proof the projection serves."""
    p, d, w3 = state.protocol, state.protocol.deployment, state.env.w3
    # Mine past the epoch's end and the finality depth, and index: the service, woken by the
    # indexer's NOTIFY, brings the projections up to date and its epoch job closes the epoch.
    head = w3.eth.block_number
    genesis = d.start_block
    end = genesis + EPOCH_LENGTH
    if head < end + FINALITY + 1:
        w3.provider.make_request("anvil_mine", [hex(end + FINALITY + 1 - head)])  # type: ignore[arg-type]
    config = RewardConfig(genesis_block=genesis, epoch_length=EPOCH_LENGTH, default_pool=90 * WAD)
    closed: list[ClosedEpoch] = []
    published: list[Published] = []
    done = threading.Event()

    def on_published(epochs: list[Published]) -> None:
        published.extend(epochs)
        done.set()

    scheduler = build_scheduler()
    scheduler.start()
    with (
        Runner(state.env.db, d.chain_id) as runner,
        ChainPublisher(
            state.env.db, state.env.rpc_url, state.env.settings.key("deployer"), Contracts.of(d),
            PublisherConfig(confirmations=FINALITY, mint=True),
        ) as publisher,
    ):  # fmt: skip
        service = ProjectionService(
            runner,
            scheduler,
            epochs=EpochSchedule(config, FINALITY, publisher),
            intervals=ProjectionIntervals(catch_up=1.0, epochs=0.2, publish=0.2),
            stop=done,
            on_closed=closed.extend,
            on_published=on_published,
        )
        service.start()
        try:
            index_and_project(state, project=False)
            # The dev chain mines only on transactions: a block now and then lets the
            # publication reach the finality depth.
            for _ in range(300):
                if service.wait(0.2):
                    break
                if closed:
                    w3.provider.make_request("anvil_mine", [hex(1)])  # type: ignore[arg-type]
        finally:
            service.stop()
            scheduler.shutdown()
    check(service.failure is None, f"the projection service ran without failure: {service.failure}")
    check(len(closed) >= 1, "an epoch closed")
    check(len(published) >= 1, f"its publication became final: {service.publish_error}")
    epoch, root = closed[0].epoch, closed[0].root or ""
    onchain = p.distributor.functions.epochs(epoch).call()[0]
    check(root != "" and "0x" + bytes(onchain).hex() == root, "the epoch's root is on-chain")
    alice = state.actors["alice"]
    with state.env.db.connect() as conn:
        leaf = proof_for(conn, epoch, alice.address)
    check(leaf is not None and leaf.amount > 0, "alice earned a reward in the epoch")
    assert leaf is not None
    before = p.token.functions.balanceOf(alice.address).call()
    proof = [bytes.fromhex(x[2:]) for x in leaf.proof]
    alice.signer.send(p.distributor.functions.claim(epoch, alice.address, leaf.amount, proof))
    check(
        p.token.functions.balanceOf(alice.address).call() == before + leaf.amount,
        "the claim paid alice her leaf",
    )
    state.console.print(
        f"  epoch {epoch}: root {root[:18]}… published; alice claimed "
        f"{leaf.amount / WAD:.6f} ART with the proof served by the projection"
    )


PIPELINE_STAGES = (stage_emission, stage_index_and_verify, stage_epoch_rewards)
