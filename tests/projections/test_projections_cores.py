"""The projections' pure cores, without a database: folds, twins and content as of a block."""

from __future__ import annotations

from typing import Any

from artisan.projections.curation import CurationProjection, MemoryCuration, signal_weight
from artisan.projections.events import Event
from artisan.projections.executions import ExecutionsProjection, MemoryExecutions
from artisan.projections.models import MemoryModels, ModelsProjection
from artisan.projections.tables import as_of

OWNER, OTHER = "0x" + "0a" * 20, "0x" + "0b" * 20
_log = iter(range(10**6))


def ev(name: str, block: int, **args: Any) -> Event:
    """An event as the store holds it (integers as decimal strings)."""
    stored = {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in args.items()
    }
    return Event(0, block, f"0x{block:064x}", 0, f"0x{block:064x}", next(_log), name, stored)


def test_a_block_is_one_version_of_a_model() -> None:
    """Registration, terms and a transfer in one block make one version; a later change
    closes it; reading as of a block gives the terms then."""
    twin = MemoryModels()
    twin.apply(ev("ModelRegistered", 5, modelId=1, cid="0x" + "11" * 32, owner=OWNER, parentId=0,
                  sizeClass=2, depth=0))  # fmt: skip
    twin.apply(ev("PricingSet", 5, modelId=1, pricingKind=0, fixedPrice=7, thresholds=[],
                  prices=[]))  # fmt: skip
    twin.apply(ev("ModelTransferred", 5, modelId=1, **{"from": OWNER, "to": OTHER}))
    twin.apply(ev("PricingSet", 9, modelId=1, pricingKind=0, fixedPrice=8, thresholds=[],
                  prices=[]))  # fmt: skip
    rows = list(twin.rows("proj_models"))
    assert [(r[-2], r[-1]) for r in rows] == [(5, 9), (9, None)]
    before, after = twin.at(1, 8), twin.at(1, 9)
    assert before is not None and (before.owner, before.fixed_price) == (OTHER, 7)
    assert after is not None and after.fixed_price == 8 and twin.at(1, 4) is None
    table = ModelsProjection.tables[0]
    assert [r[-1] for r in as_of(table, rows, 8)] == [None]  # the closing change is after 8


def test_executions_carry_their_credits_and_only_matched_ratings() -> None:
    """Credits attach to their execution in emission order; a rating of an unknown id, and a
    second rating of a rated execution, are ignored."""
    twin = MemoryExecutions()
    meter = {"inputUnits": "1", "gpuMicros": "2", "latencyMicros": "3", "storageBytes": "4",
             "concurrentLoad": "5"}  # fmt: skip
    eid = "0x" + "ee" * 32
    twin.apply(ev("InferenceExecuted", 3, executionId=eid, modelId=1, user=OWNER, operator=OTHER,
                  inputDigest="0x01", outputDigest="0x02", paramsHash="0x03", priority=1,
                  meter=meter, cost=100, ratesVersion=1))  # fmt: skip
    for recipient, role, amount in ((OTHER, 1, 15), (OWNER, 0, 85)):
        twin.apply(ev("Settlement", 3, executionId=eid, recipient=recipient, role=role,
                      amount=amount))  # fmt: skip
    twin.apply(ev("Rated", 4, executionId="0x" + "99" * 32, user=OWNER, modelId=1, rating=1))
    twin.apply(ev("Rated", 4, executionId=eid, user=OWNER, modelId=1, rating=5))
    twin.apply(ev("Rated", 6, executionId=eid, user=OWNER, modelId=1, rating=2))
    (row,) = twin.rows("proj_executions")
    assert row[-3:] == ([OTHER, OWNER], [1, 0], [15, 85])
    assert [(r[0], r[3]) for r in twin.rows("proj_ratings")] == [(eid, 5)]
    assert len(ExecutionsProjection.tables) == 2


def test_signals_are_active_between_signal_and_unsignal() -> None:
    """A signal's version carries its exact weight and closes at its Unsignaled block; one
    made and withdrawn in one block leaves a single inactive version."""
    twin = MemoryCuration()
    target = "0x" + "00" * 31 + "07"
    twin.apply(ev("Signaled", 2, signalId=1, curator=OWNER, targetKind=0, target=target, kind=3,
                  amount=10**18))  # fmt: skip
    twin.apply(ev("Unsignaled", 6, signalId=1, curator=OWNER, amount=10**18))
    twin.apply(ev("Signaled", 7, signalId=2, curator=OWNER, targetKind=1, target=target, kind=0,
                  amount=5))  # fmt: skip
    twin.apply(ev("Unsignaled", 7, signalId=2, curator=OWNER, amount=5))
    rows = sorted(twin.rows("proj_signals"), key=lambda r: (r[0], r[-2]))
    assert [(r[0], r[3], r[6], r[-3], r[-2], r[-1]) for r in rows] == [
        (1, "7", signal_weight(3, 10**18), True, 2, 6),
        (1, "7", 4 * 10**9, False, 6, None),
        (2, target, 2, False, 7, None),
    ]
    assert CurationProjection.events == ("Signaled", "Unsignaled")
