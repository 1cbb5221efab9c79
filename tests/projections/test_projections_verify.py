"""verify: silent on an honest store, and names each kind of mismatch it is built to catch."""

from __future__ import annotations

import dataclasses

from artisan.audit.verify import verify
from artisan.projections.events import Event
from artisan.projections.rewards.closing import close_final_epochs
from artisan.projections.rewards.epochs import RewardConfig
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator

from .support import CHAIN_ID, events_of, write

CONFIG = RewardConfig(genesis_block=1, epoch_length=8, default_pool=10**21)


def prepared(store: Database) -> list[Event]:
    blocks = HistoryGenerator(21, chain_id=CHAIN_ID).blocks(30, txs=5)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    run_once(store, CHAIN_ID)
    close_final_epochs(store, CHAIN_ID, CONFIG, finality_depth=4)
    return list(events_of(blocks))


def test_an_honest_store_verifies(store: Database) -> None:
    """Digests, costs, credits and reward roots all agree with the chain's events."""
    events = prepared(store)
    assert verify(store, events, block=30, rewards=CONFIG) == []
    assert verify(store, events, block=17, rewards=CONFIG) == []


def test_an_edited_row_is_named_by_its_table(store: Database) -> None:
    """A row changed behind the projections' back shows as that table's digest mismatch."""
    events = prepared(store)
    with store.connect() as conn:
        conn.execute(
            "UPDATE proj_executions SET credit_amounts[1] = credit_amounts[1] + 1"
            " WHERE execution_id = (SELECT execution_id FROM proj_executions"
            " ORDER BY block_number DESC, log_index LIMIT 1)"
        )
    found = verify(store, events, block=30)
    assert [(m.kind, m.subject) for m in found] == [
        ("digest", "executions.proj_executions up to block 30")
    ]


def test_a_cost_off_the_metering_rule_is_reported(store: Database) -> None:
    """An execution whose cost is not what the rule gives is named, with both figures."""
    events = prepared(store)
    index = next(i for i, e in enumerate(events) if e.name == "InferenceExecuted")
    bad = events[index]
    args = dict(bad.args)
    args["cost"] = str(int(args["cost"]) + 1)
    events[index] = dataclasses.replace(bad, args=args)
    found = [m for m in verify(store, events, block=30) if m.kind == "cost"]
    assert len(found) == 1 and found[0].actual == args["cost"]
    assert int(found[0].expected) == int(args["cost"]) - 1


def test_a_wrong_reward_root_is_reported(store: Database) -> None:
    """A stored epoch root that the rule does not give is reported for that epoch."""
    events = prepared(store)
    with store.connect() as conn:
        conn.execute("UPDATE reward_epochs SET root = %s WHERE epoch = 2", ("0x" + "11" * 32,))
    found = verify(store, events, block=30, rewards=CONFIG)
    assert [(m.kind, m.subject) for m in found] == [("reward_root", "epoch 2")]
