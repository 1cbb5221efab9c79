"""Executor throughput against bare ONNX Runtime, and what dynamic batching buys.

Run: ``make bench-executor`` (``python -m benchmarks.executor [--cuda]``). In-process,
not over HTTP: requests go straight to ``ExecutorService.submit``, so the figures are the
executor's own cost, not uvicorn's or a client's.

(a) Overhead. The same model and batch size (32 rows), measured in the same run:
    ``bare_rps``: ``session.run`` on ready 32-row batches, back to back, nothing else;
    ``executor_rps``: pre-signed one-row requests through the whole executor: canonical input
    encoding and digest check, signature recovery, chain reads on a real anvil (nonce, escrow,
    usage), the quote and escrow hold, dynamic batching, metering, and the group commit of
    input and output assets (made durable once per group) with the Postgres outbox rows.
    ``overhead_ratio = bare_rps / executor_rps`` (goal <= 1.05). The model must be large enough
    that the run dominates: a deep MLP (one shared ``width x width`` weight, ``depth`` layers),
    since each request costs the executor a fixed ~1.3 ms of CPU whatever the model (its own,
    anvil's and Postgres's). The same is reported for the 1024-4096-1024 MLP (``small_*``) to
    show where that fixed cost shows.
    Bare and executor run in alternating segments, so that the drift of a shared machine hits
    both; the executor's rate is its steady state within each burst (a burst's first batch is
    a partial one that continuous load never sees); ``executor_mean_batch`` is the bursts'
    mean batch size.
    ``executor_p50_ms``/``_p95_ms`` are the latencies under that load (96 in flight);
    ``low_load_p50_ms``/``_p95_ms`` of requests sent one at a time (``--quiet``), each
    waiting for the previous one to be recorded.
(b) Dynamic batching. 64 closed-loop clients send one-row requests to the scheduler (the
    batching layer alone) for the 1024-4096-1024 MLP with max batch 32, then max batch 1:
    ``batching_speedup`` (requests/s ratio) and ``batching_p95_ratio`` (p95 latency, batch 32
    over batch 1); goal speedup >= 3 with p95 ratio <= 2.
The final line is JSON with every figure and the execution provider.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import psycopg
from eth_account import Account
from onnx import TensorProto, helper, numpy_helper
from psycopg import sql

from artisan.chain.actions import ModelSpec, fund_escrow, register_model
from artisan.chain.anvil import start_anvil
from artisan.chain.protocol import WAD, Protocol, deploy
from artisan.chain.signer import Signer, connect
from artisan.config import ANVIL_OPERATOR_KEY, Settings, load_settings
from artisan.domain.eip712 import sign_request
from artisan.domain.types import InferenceRequest
from artisan.executor.assembly import ExecutorConfig, open_executor
from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy
from artisan.executor.engine import ExecutorService, Receipt
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import ModelSession, SessionCache, SessionConfig
from artisan.executor.tensors import encode_tensors
from artisan.storage.database import Database, open_database
from artisan.storage.migrations import migrate
from artisan.testing import onnx_models as models

BATCH = 32


def deep_mlp(width: int, depth: int, seed: int = 0) -> bytes:
    """``depth`` layers of ``relu(x @ W + b)`` sharing one weight: compute grows with depth,
    the file does not."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((width, width), dtype=np.float32) / np.sqrt(width)).astype(np.float32)
    nodes, current = [], "x"
    for i in range(depth):
        nodes += [
            helper.make_node("MatMul", [current, "w"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", "b"], [f"a{i}"]),
            helper.make_node("Relu", [f"a{i}"], ["y" if i == depth - 1 else f"r{i}"]),
        ]
        current = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "deep_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(w, "w"),
         numpy_helper.from_array(np.full(width, 0.01, np.float32), "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


@contextlib.contextmanager
def bench_database(settings: Settings) -> Iterator[Database]:
    """A fresh database with the schema, dropped afterwards: no outbox rows outlive the run."""
    server = open_database(settings)
    name = f"artisan_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = psycopg.conninfo.conninfo_to_dict(server.url)
        info["dbname"] = name
        db = Database(url=psycopg.conninfo.make_conninfo(**info))  # type: ignore[arg-type]
        migrate(db)
        yield db
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(server.url, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        server.close()


@dataclass(frozen=True)
class Presigned:
    request: InferenceRequest
    signature: bytes
    tensors: dict[str, Any]


def _sign(args: tuple[InferenceRequest, bytes, int, str]) -> bytes:
    return sign_request(*args)


def presign(
    protocol: Protocol, users: Sequence[tuple[str, bytes]], model_id: int, rows: Sequence[Any]
) -> list[Presigned]:
    """One signed one-row request per row, users in turn (signing in a process pool: eth_keys
    signs in pure Python, ~7 ms each)."""
    d = protocol.deployment
    requests = []
    for i, x in enumerate(rows):
        user, _ = users[i % len(users)]
        tensors = {"x": x}
        digest = hashlib.sha256(encode_tensors(tensors)).digest()
        nonce = secrets.randbits(128)
        requests.append(
            (InferenceRequest(user, model_id, digest, bytes(32), 1, WAD, nonce, 2**40), tensors)
        )
    jobs = [
        (r, users[i % len(users)][1], d.chain_id, d.ledger) for i, (r, _) in enumerate(requests)
    ]
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        signatures = list(pool.map(_sign, jobs, chunksize=16))
    return [Presigned(r, s, t) for (r, t), s in zip(requests, signatures, strict=True)]


@dataclass
class Segment:
    """One burst of requests through the executor, measured in steady state."""

    steady_requests: int  # requests completed after the burst's first batch
    steady_seconds: float  # from the end of the first batch to the last completion
    batches: int
    latencies: list[float]


def low_load(service: ExecutorService, requests: Sequence[Presigned]) -> list[float]:
    """One request at a time, each sent when the last is recorded: the latency of a quiet
    executor (the batch's queue delay, one run, the group write of one execution)."""
    latencies = []
    for item in requests:
        start = time.perf_counter()
        service.submit(item.request, item.signature, item.tensors).receipt.result(60)
        latencies.append(time.perf_counter() - start)
    return latencies


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank), in ms."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1e3, 1)


def drive_executor(service: ExecutorService, requests: Sequence[Presigned], window: int) -> Segment:
    """Submit every request with at most ``window`` in flight.

    A burst starts with a small batch (the first requests are run after the queue delay,
    before the rest are admitted), which continuous load never sees: the steady rate counts
    the requests completed after the burst's first batch, over the time since it completed.
    """
    slots = threading.BoundedSemaphore(window)
    finished_at: list[tuple[int, float, float]] = []  # (batch id, completed, latency)
    done = threading.Event()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def finished(start: float, receipt: Future[Receipt]) -> None:
        now = time.perf_counter()
        error = receipt.exception()
        with lock:
            if error is not None:
                errors.append(error)
            else:
                finished_at.append((receipt.result().batch.batch_id, now, now - start))
            if len(finished_at) + len(errors) == len(requests):
                done.set()
        slots.release()

    def submit(item: Presigned) -> None:
        slots.acquire()
        start = time.perf_counter()
        ticket = service.submit(item.request, item.signature, item.tensors)
        ticket.receipt.add_done_callback(lambda f: finished(start, f))

    with ThreadPoolExecutor(8) as submitters:
        list(submitters.map(submit, requests))
    done.wait()
    if errors:
        raise errors[0]
    done_at: dict[int, list[float]] = {}
    for batch, at, _ in finished_at:
        done_at.setdefault(batch, []).append(at)
    first = min(done_at)
    first_done = max(done_at[first])
    later = [at for batch, times in done_at.items() if batch != first for at in times]
    return Segment(
        steady_requests=len(later),
        steady_seconds=max(later) - first_done,
        batches=len(done_at),
        latencies=[lat for _, _, lat in finished_at],
    )


class Bare:
    """``session.run`` on ready 32-row batches of the same rows, back to back: nothing else.

    It drives the executor's own session (while the executor is idle), so both paths run the
    very same ONNX Runtime session and differ only by what the executor adds."""

    def __init__(self, session: ModelSession, rows: Sequence[Any]) -> None:
        self.session = session
        self.batches = [
            {"x": np.concatenate(rows[i : i + BATCH])}
            for i in range(0, len(rows) - BATCH + 1, BATCH)
        ]
        self.session.execute(self.batches[0])

    def segment(self, count: int, start: int) -> float:
        """Seconds for ``count`` batches, starting at batch ``start``."""
        began = time.perf_counter()
        for i in range(start, start + count):
            self.session.execute(self.batches[i % len(self.batches)])
        return time.perf_counter() - began


def overhead(
    protocol: Protocol,
    anvil_url: str,
    db: Database,
    operator: str,
    users: Sequence[tuple[str, bytes]],
    deployer: Signer,
    model: bytes,
    width: int,
    n: int,
    config: SessionConfig,
    quiet: int,
    rounds: int = 4,
) -> dict[str, Any]:
    """Executor and bare in alternating segments, so that a shared machine's drift hits both
    alike: each executor burst is ``n / rounds`` requests, measured in steady state (see
    ``drive_executor``); each bare segment runs as many batches as the burst's steady part.
    Then ``quiet`` requests one at a time (``low_load``)."""
    per_round = max(3 * BATCH, n // rounds // BATCH * BATCH)
    with tempfile.TemporaryDirectory(prefix="artisan-bench-", dir=_store_dir()) as tmp:
        store = AssetStore(Path(tmp) / "assets")
        asset = store.put(model)
        model_id = register_model(deployer, protocol, ModelSpec(asset.digest, fixed_price=10**15))
        rng = np.random.default_rng(1)
        rows = [
            rng.standard_normal((1, width), dtype=np.float32) for _ in range(per_round * rounds)
        ]
        warm_rows = [rng.standard_normal((1, width), dtype=np.float32) for _ in range(2 * BATCH)]
        quiet_rows = [rng.standard_normal((1, width), dtype=np.float32) for _ in range(quiet)]
        signed = presign(protocol, users, model_id, rows)
        warm = presign(protocol, users, model_id, warm_rows)
        one_by_one = presign(protocol, users, model_id, quiet_rows)
        executor_config = ExecutorConfig(
            batch=BatchPolicy(max_batch_size=BATCH, max_queue_delay_s=0.005), sessions=config
        )
        bare_batches, bare_s, steady, steady_s, batches = 0, 0.0, 0, 0.0, 0
        latencies: list[float] = []
        with open_executor(
            protocol, anvil_url, store, operator=operator, db=db, config=executor_config
        ) as service:
            drive_executor(service, warm, 2 * BATCH)  # the probe, first batches, pool warm-up
            bare = Bare(service.admission.sessions.get(asset.cid), rows)
            for r in range(rounds):
                count = per_round // BATCH - 1
                # Bare first in even rounds, last in odd ones: neither gets the quieter slot.
                if r % 2 == 0:
                    bare_s += bare.segment(count, r * count)
                burst = drive_executor(
                    service, signed[r * per_round : (r + 1) * per_round], 3 * BATCH
                )
                if r % 2 == 1:
                    bare_s += bare.segment(count, r * count)
                bare_batches += count
                steady += burst.steady_requests
                steady_s += burst.steady_seconds
                batches += burst.batches
                latencies += burst.latencies
            quiet_latencies = low_load(service, one_by_one)
            provider = service.provider
    bare_rps, executor_rps = bare_batches * BATCH / bare_s, steady / steady_s
    return {
        "executor_rps": round(executor_rps, 2),
        "bare_rps": round(bare_rps, 2),
        "overhead_ratio": round(bare_rps / executor_rps, 3),
        "executor_mean_batch": round(per_round * rounds / batches, 1),
        "executor_p50_ms": round(statistics.median(latencies) * 1e3, 1),
        "executor_p95_ms": percentile(latencies, 0.95),
        "low_load_p50_ms": percentile(quiet_latencies, 0.5),
        "low_load_p95_ms": percentile(quiet_latencies, 0.95),
        "requests": per_round * rounds,
        "provider": provider,
    }


def _store_dir() -> str | None:
    """Where the benchmark's asset store lives: the data directory's disk (fsync is real)."""
    root = load_settings(dev=True).data_dir
    root.mkdir(parents=True, exist_ok=True)
    return str(root)


def closed_loop(
    scheduler: Scheduler, cid: str, x: Any, clients: int, per_client: int
) -> tuple[float, list[float]]:
    """``clients`` threads, each sending its next request when the last one is done."""
    latencies: list[float] = []

    def client() -> None:
        for _ in range(per_client):
            start = time.perf_counter()
            scheduler.submit(cid, {"x": x}).result()
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - began), sorted(latencies)


def batching(config: SessionConfig, n: int, clients: int = 64, rounds: int = 3) -> dict[str, Any]:
    """Closed-loop clients against the scheduler alone, max batch 32 and max batch 1, in
    alternating segments (as in (a), so that a shared machine's drift hits both)."""
    with tempfile.TemporaryDirectory(prefix="artisan-bench-") as tmp:
        store = AssetStore(Path(tmp) / "assets")
        cid = store.put(models.mlp(1024, [4096], 1024, seed=2)).cid
        sessions = SessionCache(store, config)
        x = np.random.default_rng(3).standard_normal((1, 1024), dtype=np.float32)
        seconds = {BATCH: 0.0, 1: 0.0}
        latencies: dict[int, list[float]] = {BATCH: [], 1: []}
        per_client = max(1, n // clients // rounds)
        with contextlib.ExitStack() as stack:
            schedulers = {
                size: stack.enter_context(
                    Scheduler(sessions, BatchPolicy(max_batch_size=size, max_queue_delay_s=0.002))
                )
                for size in (BATCH, 1)
            }
            for scheduler in schedulers.values():
                closed_loop(scheduler, cid, x, clients, 2)  # warm up
            for _ in range(rounds):
                for size, scheduler in schedulers.items():
                    rps, lat = closed_loop(scheduler, cid, x, clients, per_client)
                    seconds[size] += len(lat) / rps
                    latencies[size] += lat
    figures: dict[str, Any] = {"batching_model": "MLP 1024-4096-1024", "batching_clients": clients}
    for size in (BATCH, 1):
        lat = sorted(latencies[size])
        figures[f"batch{size}_rps"] = round(len(lat) / seconds[size], 1)
        figures[f"batch{size}_p50_ms"] = round(lat[len(lat) // 2] * 1e3, 2)
        figures[f"batch{size}_p95_ms"] = round(lat[int(len(lat) * 0.95)] * 1e3, 2)
    figures["batching_speedup"] = round(figures["batch32_rps"] / figures["batch1_rps"], 2)
    figures["batching_p95_ratio"] = round(figures["batch32_p95_ms"] / figures["batch1_p95_ms"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="prefer the CUDA provider")
    parser.add_argument("--width", type=int, default=2048, help="deep MLP width")
    parser.add_argument("--depth", type=int, default=192, help="deep MLP layers")
    parser.add_argument("--requests", type=int, default=384, help="timed requests, (a)")
    parser.add_argument("--small-requests", type=int, default=960, help="(a), small MLP")
    parser.add_argument("--batching-requests", type=int, default=3072, help="(b)")
    parser.add_argument(
        "--quiet", type=int, default=64, help="requests one at a time, small MLP (deep: / 4)"
    )
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # as a serving process does (see scheduler.py)
    config = SessionConfig(prefer_cuda=args.cuda)
    settings = load_settings(dev=True)
    figures: dict[str, Any] = {}
    with (
        start_anvil(settings.anvil_bin, chain_id=settings.chain_id) as node,
        bench_database(settings) as db,
    ):
        w3 = connect(node.rpc_url)
        deployer = Signer.from_key(w3, settings.key("deployer"))
        operator = Signer.from_key(w3, ANVIL_OPERATOR_KEY)
        protocol = deploy(deployer, settings.artifacts_dir, operators=(operator.address,))
        users = []
        for _ in range(8):
            key = secrets.token_bytes(32)
            account = Account.from_key(key)
            w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
            fund_escrow(deployer, Signer(w3=w3, account=account), protocol, 10**6 * WAD)
            users.append((account.address, key))

        def run(model: bytes, width: int, n: int, quiet: int) -> dict[str, Any]:
            return overhead(protocol, node.rpc_url, db, operator.address, users, deployer,
                            model, width, n, config, quiet)  # fmt: skip

        figures.update(
            run(deep_mlp(args.width, args.depth), args.width, args.requests, args.quiet // 4)
        )
        figures["model"] = f"deep MLP {args.width}x{args.depth} (one shared weight), batch {BATCH}"
        small = run(models.mlp(1024, [4096], 1024), 1024, args.small_requests, args.quiet)
        for name in ("executor_rps", "bare_rps", "overhead_ratio", "executor_mean_batch",
                     "executor_p50_ms",
                     "executor_p95_ms", "low_load_p50_ms", "low_load_p95_ms"):  # fmt: skip
            figures[f"small_{name}"] = small[name]
    figures.update(batching(config, args.batching_requests))
    figures["measured"] = "in-process (ExecutorService.submit), not over HTTP"
    figures["cpu_count"] = os.cpu_count()
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
