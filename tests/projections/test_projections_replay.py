"""Exactly once: batches, crashes and reorgs never change what the projections hold."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artisan.projections.runner import Runner, Step
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator, SyntheticBlock

from .support import CHAIN_ID, db_digests, memory_digests, reset_store, write

SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Crash(Exception):
    """Stands for the process dying after a step's writes, before its commit."""


def run_all(db: Database, sizes: list[int], crashes: set[int]) -> int:
    """Step every projection to the head with batch sizes cycling through ``sizes``, crashing
    (and restarting with a new runner) at the step numbers in ``crashes``; the crash count."""
    counter = itertools.count()
    crashed = 0

    def maybe_crash(_name: str, _step: Step) -> None:
        if next(counter) in crashes:
            raise Crash

    cycle = itertools.cycle(sizes)
    while True:
        try:
            with Runner(db, CHAIN_ID, before_commit=maybe_crash) as runner:
                for projection in runner.projections:
                    while runner.step(projection, next(cycle)).kind != "idle":
                        pass
            return crashed
        except Crash:
            crashed += 1


@SETTINGS
@given(
    seed=st.integers(0, 10**6),
    length=st.integers(5, 15),
    sizes=st.lists(st.integers(15, 300), min_size=1, max_size=6),
    crashes=st.sets(st.integers(0, 30), max_size=4),
)
def test_batches_and_crashes_give_one_digest(
    store: Database, seed: int, length: int, sizes: list[int], crashes: set[int]
) -> None:
    """One batch, random batch splits, and splits with crashes and restarts: equal digests."""
    blocks = HistoryGenerator(seed, chain_id=CHAIN_ID).blocks(length, txs=4)
    results = []
    for plan_sizes, plan_crashes in (([10**9], set()), (sizes, set()), (sizes, crashes)):
        reset_store(store)
        with SeedWriter(store, CHAIN_ID) as writer:
            write(writer, blocks)
        run_all(store, plan_sizes, plan_crashes)
        results.append(db_digests(store, length))
    assert results[0] == results[1] == results[2]
    assert results[0] == memory_digests(blocks, length)  # and the independent twin agrees


def run_some(db: Database, size: int, steps: int) -> None:
    """Let each projection take at most ``steps`` steps of ``size`` positions."""
    with Runner(db, CHAIN_ID) as runner:
        for projection in runner.projections:
            for _ in range(steps):
                if runner.step(projection, size).kind == "idle":
                    break


# Reorgs as (depth, new blocks, steps each projection takes before it, batch size).
REORG_PLANS = st.lists(
    st.tuples(st.integers(1, 8), st.integers(0, 8), st.integers(0, 3), st.integers(20, 300)),
    min_size=1,
    max_size=3,
)


@SETTINGS
@given(
    seed=st.integers(0, 10**6),
    length=st.integers(9, 16),
    plan=REORG_PLANS,
    crashes=st.sets(st.integers(0, 12), max_size=3),
)
def test_reorgs_then_reapplication_give_the_canonical_digest(
    store: Database,
    seed: int,
    length: int,
    plan: list[tuple[int, int, int, int]],
    crashes: set[int],
) -> None:
    """After any sequence of reorgs, with projections part-way when each happens and crashes
    while reverting and re-applying, the projections equal those of the canonical chain."""
    reset_store(store)
    gen = HistoryGenerator(seed, chain_id=CHAIN_ID)
    canonical: list[SyntheticBlock] = []
    states: dict[int, HistoryGenerator] = {}
    for _ in range(length):
        block = gen.next_block(4)
        canonical.append(block)
        states[block.header.number] = gen.fork(seed)  # state after this block
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, canonical)
        for i, (depth, grow, steps, size) in enumerate(plan):
            run_some(store, size, steps)  # projections part-way (or all the way) up the branch
            ancestor = max(1, canonical[-1].header.number - depth)
            writer.reorg(ancestor)
            branch = states[ancestor].fork(seed * 31 + i)
            canonical = canonical[:ancestor]
            for _ in range(grow):
                block = branch.next_block(4)
                canonical.append(block)
                states[block.header.number] = branch.fork(seed * 31 + i)
            write(writer, canonical[ancestor:])
    run_all(store, [plan[-1][3]], crashes)
    tip = canonical[-1].header.number
    assert db_digests(store, tip) == memory_digests(canonical, tip)
