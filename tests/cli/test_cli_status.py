"""`artisan status [--json]`: the services' rows and the database's own figures, with lags a
test knows; exit 1 while a service failed or went stale."""

from __future__ import annotations

import time
from typing import Any

import orjson
from typer.testing import CliRunner

from artisan.cli.main import app
from artisan.projections.runner import Runner
from artisan.storage.database import Database
from artisan.storage.service_status import write
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.projections.support import CHAIN_ID

OPERATOR = "0x" + "0a" * 20
LEDGER = "0x" + "1e" * 20


def status(db: Database, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["status", *args], env={"ARTISAN_DATABASE_URL": db.url})
    return result.exit_code, result.stdout


def outbox_row(db: Database, n: int, status: str, batch: int | None, age_s: int) -> None:
    """An execution in the outbox, ``age_s`` seconds old (the columns the backlog reads)."""
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO outbox_executions (execution_id, chain_id, ledger, operator,"
            " user_address, model_id, input_digest, params_hash, priority, max_cost, nonce,"
            " deadline, signature, input_units, gpu_micros, latency_micros, storage_bytes,"
            " concurrent_load, output_digest, output_cid, item_abi, status, batch_id, created_at)"
            " VALUES (%s, %s, %s, %s, '\\x00', 1, '\\x00', '\\x00', 0, 1, %s, 1, '\\x00', 1, 1,"
            " 1, 1, 0, '\\x00', 'cid', '\\x00', %s, %s, now() - %s * interval '1 second')",
            (n.to_bytes(32, "big"), CHAIN_ID, LEDGER, OPERATOR, n, status, batch, age_s),
        )


def test_status_reports_services_lags_and_backlog_and_exits_1_on_a_failure(
    fresh_db: Database,
) -> None:
    """With projections caught up to block 6 and blocks 7 and 8 indexed since, each trails by
    exactly their events and blocks; the outbox shows two pending executions (the oldest an
    hour old) and one in a batch; a failed service is named and exits 1, and once it runs
    again the exit is 0; a row that stops beating turns stale and exits 1."""
    blocks = HistoryGenerator(5, chain_id=CHAIN_ID).blocks(8, txs=3)
    with SeedWriter(fresh_db, CHAIN_ID) as writer:
        writer.append([(b.header, b.rows) for b in blocks[:6]])
        with Runner(fresh_db, CHAIN_ID) as runner:
            runner.catch_up()
        writer.append([(b.header, b.rows) for b in blocks[6:]])
    behind = sum(len(b.rows) for b in blocks[6:])
    first_new = next(b.header.number for b in blocks[6:] if b.rows)
    outbox_row(fresh_db, 1, "pending", None, 3600)
    outbox_row(fresh_db, 2, "pending", None, 5)
    outbox_row(fresh_db, 3, "broadcast", 77, 10)
    with fresh_db.connect() as conn:
        write(conn, "indexer", "host:1", "running",
              {"indexed_block": 8, "head_lag_blocks": 0, "heartbeat_s": 60})  # fmt: skip
        write(conn, "executor", "host:2", "stopped", {"queue_depth": 0, "heartbeat_s": 60})
        write(conn, "emitter", "host:2", "failed", {"heartbeat_s": 60}, "BatchReverted: nonce 4")

    code, out = status(fresh_db, "--json")
    found = orjson.loads(out)
    assert code == 1 and not found["ok"]
    assert found["problems"] == ["emitter host:2 failed: BatchReverted: nonce 4"]
    services = {s["service"]: s for s in found["services"]}
    assert services["indexer"]["state"] == "running" and not services["indexer"]["stale"]
    assert services["indexer"]["details"]["indexed_block"] == 8
    assert services["executor"]["state"] == "stopped"
    [chain] = found["chains"]
    assert chain["chain_id"] == CHAIN_ID and chain["indexed_block"] == 8
    assert {p["name"] for p in chain["projections"]} >= {"executions", "balances", "usage"}
    for projection in chain["projections"]:
        assert projection["events_behind"] == behind, projection
        assert projection["blocks_behind"] == 8 - (first_new - 1), projection
    [backlog] = found["outbox"]
    assert (backlog["operator"], backlog["pending"], backlog["broadcast"]) == (OPERATOR, 2, 1)
    assert 3600 <= backlog["oldest_pending_s"] < 3700

    code, screen = status(fresh_db)
    assert code == 1
    assert "emitter" in screen and "BatchReverted: nonce 4" in screen and "outbox" in screen

    with fresh_db.connect() as conn:
        write(conn, "emitter", "host:2", "starting", {"heartbeat_s": 60})
        write(conn, "emitter", "host:2", "running", {"outbox_backlog": 3})
    code, out = status(fresh_db, "--json")
    assert code == 0 and orjson.loads(out)["problems"] == []

    with fresh_db.connect() as conn:
        write(conn, "api", "host:3", "running", {"heartbeat_s": 0.05})
    time.sleep(0.3)  # three beats and more without one
    code, out = status(fresh_db, "--json")
    problems = orjson.loads(out)["problems"]
    assert code == 1 and len(problems) == 1 and problems[0].startswith("api host:3 is stale")
