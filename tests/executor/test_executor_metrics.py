"""The executor's and the emitter's metrics after real work, and one execution followed by its
id from the HTTP request to its on-chain log and its projection row."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from web3 import Web3

from artisan.chain.anvil import Anvil
from artisan.chain.protocol import Protocol
from artisan.chain.signer import Signer
from artisan.config import ANVIL_OPERATOR_KEY
from artisan.emitter.emitter import Emitter, wait_idle
from artisan.emitter.metrics import EmitterMetrics
from artisan.executor.api import create_app
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy
from artisan.executor.client import ExecutorClient
from artisan.executor.metrics import ExecutorMetrics, parse_nvidia_smi
from artisan.executor.serving import serve_in_thread
from artisan.executor.sessions import SessionConfig
from artisan.logs import EXECUTIONS, JsonFormatter
from artisan.scheduling import build_scheduler
from artisan.storage.database import Database
from artisan.storage.service_status import read_all
from artisan.testing import onnx_models as models
from tests.executor.api_helpers import Api, rows
from tests.projections.chain_support import index

pytestmark = pytest.mark.usefixtures("chain_snapshot")


class Metered(Api):
    """An executor over HTTP whose metrics are served on its /metrics."""

    url: str
    metrics: ExecutorMetrics

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


@pytest.fixture
def metered(
    protocol: Protocol, anvil: Anvil, fresh_db: Database, deployer: Signer, operator: Signer,
    w3: Web3, tmp_path: Path,
) -> Iterator[Metered]:  # fmt: skip
    store = AssetStore(tmp_path / "assets")
    config = ExecutorConfig(batch=BatchPolicy(max_batch_size=8, max_queue_delay_s=0.001),
                            sessions=SessionConfig(prefer_cuda=False))  # fmt: skip
    metrics = ExecutorMetrics()
    with (
        open_executor(protocol, anvil.rpc_url, store, operator=operator.address, db=fresh_db,
                      config=config, metrics=metrics) as service,
        serve_in_thread(create_app(service, registry=metrics.registry)) as url,
    ):  # fmt: skip
        d = protocol.deployment
        client = ExecutorClient.connect(url, chain_id=d.chain_id, ledger=d.ledger)
        api = Metered(client, service, protocol, store, fresh_db, w3, deployer)
        api.url, api.metrics = url, metrics
        try:
            yield api
        finally:
            client.http.close()


def test_batches_and_apportioned_gpu_time_are_counted(metered: Metered) -> None:
    """After executions ran, the batch-size histogram counted every batch and request, the
    GPU time counter holds exactly the measured shares the receipts report, the queue is
    empty, and on the CPU no GPU gauge is invented."""
    before = metered.samples()
    assert before.get(("artisan_executor_batch_size_count", ()), 0.0) == 0
    model_id = metered.register(models.mlp(8, [16], 4, seed=31))
    user = metered.user()
    receipts = [metered.client.submit(metered.sign(user, model_id, rows(n, seed=n)))
                for n in (1, 2, 3)]  # fmt: skip
    cid = receipts[0]["modelCid"]
    after = metered.samples()
    assert after[("artisan_executor_batch_size_count", ())] == len(
        {r["batch"]["batchId"] for r in receipts}
    )
    assert after[("artisan_executor_batch_size_sum", ())] == 3
    assert after[("artisan_executor_executions_total", (("model", cid),))] == 3
    gpu = sum(int(r["measured"]["gpuMicros"]) for r in receipts)
    assert after[("artisan_executor_gpu_micros_total", (("model", cid),))] == gpu > 0
    assert after[("artisan_executor_request_gpu_micros_count", ())] == 3
    depths = {k: v for k, v in after.items() if k[0] == "artisan_executor_queue_depth"}
    assert depths and all(v == 0 for v in depths.values())
    assert not any(name.startswith("artisan_executor_gpu_utilization") for name, _ in after)
    details = metered.metrics.details()
    assert details["provider"] == "CPUExecutionProvider" and details["gpus"] is None
    assert details["executions"] == 3 and details["queue_depth"] == 0


def test_nvidia_smi_lines_become_readings() -> None:
    """nvidia-smi's csv (index, utilisation %, memory MiB) is read as a ratio and bytes."""
    [first, second] = parse_nvidia_smi("0, 37, 1024\n1, 100, 0\n")
    assert (first.index, first.utilization, first.memory_used_bytes) == (0, 0.37, 2**30)
    assert (second.index, second.utilization) == (1, 1.0)


def test_emitter_metrics_and_heartbeat_follow_the_outbox(metered: Metered, anvil: Anvil) -> None:
    """Three recorded executions are the emitter's backlog; once emitted and final, the
    backlog is empty, three are counted confirmed, and its heartbeat row says so."""
    model_id = metered.register(models.mlp(8, [16], 4, seed=32))
    user = metered.user()
    for n in (1, 2, 3):
        metered.client.submit(metered.sign(user, model_id, rows(n, seed=n)))
    d = metered.protocol.deployment
    metrics = EmitterMetrics()
    scheduler = build_scheduler(1)
    with Emitter(metered.db, anvil.rpc_url, ANVIL_OPERATOR_KEY, chain_id=d.chain_id,
                 ledger=d.ledger, metrics=metrics) as emitter:  # fmt: skip
        beats = emitter.heartbeat(scheduler, metered.db, instance="test", seconds=60)
        beats.starting()
        beats.beat()
        assert heartbeat(metered.db)["pending"] == 3
        assert metrics.registry.get_sample_value(
            "artisan_emitter_outbox_backlog", {"status": "pending"}) == 3  # fmt: skip
        wait_idle(emitter, timeout=30)
        beats.beat()
        figures = heartbeat(metered.db)
        beats.finish()
    value = metrics.registry.get_sample_value
    assert figures["outbox_backlog"] == 0 and figures["confirmed"] == 3
    assert value("artisan_emitter_executions_total", {"outcome": "confirmed"}) == 3
    assert value("artisan_emitter_outbox_backlog", {"status": "pending"}) == 0
    assert (value("artisan_emitter_batches_total", {"event": "sent"}) or 0) >= 1
    assert value("artisan_emitter_batch_size_sum") == 3
    with metered.db.connect() as conn:
        [row] = [r for r in read_all(conn) if r.service == "emitter"]
    assert row.state == "stopped" and row.instance == "test"


def heartbeat(db: Database) -> dict[str, object]:
    with db.connect() as conn:
        [row] = [r for r in read_all(conn) if r.service == "emitter"]
    return row.details


def test_one_execution_is_followed_by_its_id_from_request_to_projection_row(
    metered: Metered, anvil: Anvil
) -> None:
    """With the execution trail on, one execution leaves three JSON lines with the same id:
    accepted over HTTP, confirmed on chain (its transaction and log index), projected (the
    same transaction and log index as the projection row)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    trail = logging.getLogger(EXECUTIONS)
    trail.addHandler(handler)
    trail.setLevel(logging.INFO)
    try:
        model_id = metered.register(models.mlp(8, [16], 4, seed=33))
        receipt = metered.client.submit(metered.sign(metered.user(), model_id, rows(2)))
        d = metered.protocol.deployment
        with Emitter(metered.db, anvil.rpc_url, ANVIL_OPERATOR_KEY, chain_id=d.chain_id,
                     ledger=d.ledger) as emitter:  # fmt: skip
            wait_idle(emitter, timeout=30)
        index(metered.db, anvil, metered.protocol)  # the indexer, then the projections
    finally:
        trail.removeHandler(handler)
        trail.setLevel(logging.NOTSET)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line["execution_id"] == receipt["executionId"]]
    assert [line["stage"] for line in mine] == ["accepted", "confirmed", "projected"]
    _, confirmed, projected = mine
    assert confirmed["tx_hash"] == projected["tx_hash"]
    assert confirmed["log_index"] == projected["log_index"]
    assert confirmed["block_number"] == projected["block_number"]
    with metered.db.connect() as conn:
        row = conn.execute(
            "SELECT tx_hash, log_index FROM proj_executions WHERE execution_id = %s",
            (receipt["executionId"],),
        ).fetchone()
    assert row == (projected["tx_hash"], projected["log_index"])
