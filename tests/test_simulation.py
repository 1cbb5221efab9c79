"""One seed of the whole-system simulation (`make simulate` runs many): faulted RPC, reorgs and
SIGKILLed services at once, and every check against ground truth passes. It keeps the harness
itself working between simulation runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import psycopg
import pytest
from psycopg import sql

from artisan.storage.database import Database
from artisan.storage.service_status import Heartbeat
from artisan.testing.services import Service, Services
from artisan.testing.simulation import (
    CHECKS,
    LOSSES,
    Params,
    SimulationFailed,
    World,
    databases,
    failure_digest,
    run_seed,
    services_alive,
)

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


def test_a_failed_run_keeps_its_databases_for_a_post_mortem(
    pg_server: Database, tmp_path: Path
) -> None:
    """The soak's first failure left nothing to inspect: its database was dropped with the
    run. A run that fails (an exception, or ``keep``) keeps them, named; one that passes
    drops them."""

    def exists(db: Database) -> bool:
        name = psycopg.conninfo.conninfo_to_dict(db.url)["dbname"]
        with psycopg.connect(pg_server.url) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return row.fetchone() is not None

    with databases(pg_server.url, tmp_path) as (passed, _):
        pass
    assert not exists(passed)
    with pytest.raises(RuntimeError), databases(pg_server.url, tmp_path) as (failed, _):
        raise RuntimeError("a service ended")
    with databases(pg_server.url, tmp_path, keep=lambda: True) as (kept, _):
        pass
    try:
        assert exists(failed) and exists(kept)
    finally:
        with psycopg.connect(pg_server.url, autocommit=True) as conn:
            for db in (failed, kept):
                name = str(psycopg.conninfo.conninfo_to_dict(db.url)["dbname"])
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))  # fmt: skip


def test_a_failed_seed_is_summed_up_where_the_tail_of_the_output_shows_it(tmp_path: Path) -> None:
    """CI shows the end of `make simulate`'s output: a failed seed's reason, outbox, odd status
    rows and each service's last errors and warnings go there, not only into a log directory CI
    does not keep. An error comes before warnings, a traceback by its exception's line, and a
    warning repeated with other numbers once."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "executor-a.log").write_text(
        "2026-12-07 10:00:00,000 INFO artisan.emitter started\n"
        "2026-12-07 10:00:01,000 WARNING artisan.emitter.reconcile batch 3: left the chain\n"
        + "".join(
            f"2026-12-07 10:00:0{i},000 WARNING artisan.emitter.reconcile batch {i}: lost\n"
            for i in range(2, 7)
        )
        + "2026-12-07 10:00:08,000 ERROR artisan.cli boom\n"
        "Exception in thread emitter:\n"
        "Traceback (most recent call last):\n"
        '  File "artisan/emitter/emitter.py", line 1, in run\n'
        "    raise\n"
        "TypeError: string indices must be integers\n"
        "2026-12-07 10:00:09,000 INFO artisan.executor still serving\n"
    )
    (logs / "indexer.log").write_text("2026-12-07 10:00:00,000 INFO artisan.indexer quiet\n")
    result = {"seed": 9, "seconds": 54.2, "ok": False, "logs": str(logs),
              "failure": "not within the run's time: every accepted execution final on chain",
              "outbox": [["batch", "0xop", "broadcast", "4"]],
              "service_status": [
                  {"service": "emitter", "instance": "h:1", "state": "running",
                   "last_error": None, "silent_s": 0.4, "last_pass_s": 31.0},
                  {"service": "indexer", "instance": "h:2", "state": "running",
                   "last_error": None, "silent_s": 0.5, "last_pass_s": None}]}  # fmt: skip
    lines = failure_digest(result, lines=4).splitlines()
    assert lines[0] == ("seed 9 failed after 54.2 s: not within the run's time: every accepted"
                        " execution final on chain")  # fmt: skip
    assert '  outbox: [["batch", "0xop", "broadcast", "4"]]' in lines
    [status] = [x for x in lines if x.startswith("  status: ")]
    assert '"instance": "h:1"' in status and '"last_pass_s": 31.0' in status
    noted = [x.removeprefix("  executor-a: ") for x in lines if x.startswith("  executor-a: ")]
    noted = [x.split(" ", 2)[2] if x[:4].isdigit() else x for x in noted]  # no timestamps
    assert noted == [
        "ERROR artisan.cli boom",
        "TypeError: string indices must be integers",
        "WARNING artisan.emitter.reconcile batch 3: left the chain",
        "WARNING artisan.emitter.reconcile batch 6: lost",
    ]
    assert not any("indexer" in x or " INFO " in x for x in lines)


def test_a_service_part_that_failed_inside_a_live_process_fails_the_seed(
    fresh_db: Database, tmp_path: Path
) -> None:
    """An executor whose emitter thread stopped on an error goes on serving, so its process
    never ends: the seed used to wait out its whole budget, then say only that executions were
    not final. The failed ``service_status`` row of a running service now fails it at once,
    naming the service; a failed row of a process no longer running is history."""
    services = Services({}, tmp_path / "logs")
    w = cast(World, SimpleNamespace(services=services, db=fresh_db))
    sleeper = subprocess.Popen(["sleep", "60"])
    with (tmp_path / "a.log").open("ab") as log:
        services.started.append(Service("executor-a", ["sleep"], tmp_path / "a.log", sleeper, log))
        [instance] = services.instances()
        beats = [Heartbeat(fresh_db, "executor", instance),
                 Heartbeat(fresh_db, "emitter", instance),
                 Heartbeat(fresh_db, "emitter", "elsewhere:1")]  # fmt: skip
        try:
            beats[0].write("running")
            beats[1].write("running")
            beats[2].write("failed", last_error="an emitter killed and started again")
            services_alive(w)  # nothing running failed: no error
            beats[1].write("failed", last_error="LedgerMissing: no code at the ledger")
            with pytest.raises(SimulationFailed) as failed:
                services_alive(w)
            assert str(failed.value) == (
                f"the emitter of executor-a ({instance}) failed: LedgerMissing: no code at the"
                " ledger"
            )
        finally:
            for beat in beats:
                beat.close()
            sleeper.kill()
            sleeper.wait()
