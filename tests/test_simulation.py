"""One seed of the whole-system simulation (`make simulate` runs many): faulted RPC, reorgs and
SIGKILLed services at once, and every check against ground truth passes. It keeps the harness
itself working between simulation runs."""

from __future__ import annotations

from artisan.storage.database import Database
from artisan.testing.simulation import CHECKS, LOSSES, Params, run_seed

SEED = 1  # its parameters draw every fault: RPC errors, reorgs and restarts


def test_a_seed_with_every_fault_passes_every_check(pg_server: Database) -> None:
    params = Params.of(SEED, steps=40)
    assert params.rpc_error_rate > 0 and params.reorg_rate > 0 and params.restart_rate > 0
    result = run_seed(SEED, steps=40, budget_s=90.0, url=pg_server.url)
    assert result["ok"], result
    assert all(result[check] for check in CHECKS)
    assert set(result["losses"]) == set(LOSSES)
    assert not any(result["losses"].values()), result["losses"]
    counts = result["counts"]
    assert counts["accepted"] > 10 and counts["executed_on_chain"] >= counts["accepted"]
    assert counts["rpc_faults"] > 0
