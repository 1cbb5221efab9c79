"""Dynamic batching with priority tiers, queue timeouts and recorded concurrent load."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy, CompletedRun
from artisan.executor.errors import (
    QueueTimeout,
    RunFailed,
    SchedulerClosed,
    UnknownTier,
    WrongShape,
)
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import SessionCache
from artisan.testing import onnx_models as models


def _row(value: float) -> dict[str, np.ndarray]:
    return {"x": np.full((1, 8), value, dtype=np.float32)}


def test_batched_results_equal_single_runs(sessions: SessionCache, mlp_cid: str) -> None:
    """Requests batched by the scheduler get the outputs they would get run alone."""
    rng = np.random.default_rng(5)
    requests = [{"x": rng.standard_normal((n, 8), dtype=np.float32)} for n in (1, 2, 1, 3, 1)]
    with Scheduler(sessions, BatchPolicy(max_batch_size=16), start=False) as scheduler:
        futures = [scheduler.submit(mlp_cid, r) for r in requests]
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
    assert {r.batch.batch_size for r in results} == {5}
    session = sessions.get(mlp_cid)
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_allclose(
            result.outputs["y"], session.run(request)["y"], rtol=1e-5, atol=1e-6
        )


def test_batches_respect_max_batch_size(sessions: SessionCache, mlp_cid: str) -> None:
    """Ten one-row requests with at most four rows per run run as batches of 4, 4 and 2."""
    with Scheduler(sessions, BatchPolicy(max_batch_size=4), start=False) as scheduler:
        futures = [scheduler.submit(mlp_cid, _row(i)) for i in range(10)]
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
    sizes = [r.batch.batch_size for r in results]
    assert sizes == [4] * 4 + [4] * 4 + [2] * 2
    assert len({r.batch.batch_id for r in results}) == 3


def test_higher_tiers_are_served_first(sessions: SessionCache, mlp_cid: str) -> None:
    """Queued requests run tier 3 first down to tier 0, in admission order within a tier."""
    tiers = [0, 2, 1, 3, 0, 3, 2, 1]
    with Scheduler(sessions, BatchPolicy(max_batch_size=1), start=False) as scheduler:
        futures = [scheduler.submit(mlp_cid, _row(i), priority=t) for i, t in enumerate(tiers)]
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
    served = sorted(range(len(tiers)), key=lambda i: results[i].batch.batch_id)
    assert served == sorted(range(len(tiers)), key=lambda i: (-tiers[i], i))
    assert all(r.priority == t for r, t in zip(results, tiers, strict=True))


def test_queue_timeout_fails_the_request(sessions: SessionCache, mlp_cid: str) -> None:
    """A request left in its tier's queue past the tier's timeout fails with QueueTimeout."""
    policy = BatchPolicy(max_batch_size=1, tier_timeouts_s=(0.05, 30.0, 30.0, 30.0))
    with Scheduler(sessions, policy, start=False) as scheduler:
        stale = scheduler.submit(mlp_cid, _row(0), priority=0)
        fresh = scheduler.submit(mlp_cid, _row(1), priority=1)
        time.sleep(0.1)
        scheduler.start()
        with pytest.raises(QueueTimeout, match="tier 0"):
            stale.result(timeout=10)
        assert fresh.result(timeout=10).meter.latency_micros >= 100_000
        assert scheduler.queue_depth(mlp_cid) == 0


def test_concurrent_load_is_queue_depth_at_admission(sessions: SessionCache, mlp_cid: str) -> None:
    """Each request records how many requests of its model were queued when it arrived."""
    with Scheduler(sessions, BatchPolicy(max_batch_size=2), start=False) as scheduler:
        futures = [scheduler.submit(mlp_cid, _row(i), priority=i % 4) for i in range(5)]
        assert scheduler.queue_depth(mlp_cid) == 5
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
        late = scheduler.submit(mlp_cid, _row(9)).result(timeout=10)
    assert [r.meter.concurrent_load for r in results] == [0, 1, 2, 3, 4]
    assert late.meter.concurrent_load == 0


def test_dynamic_non_batch_dims_batch_only_when_equal(store: AssetStore) -> None:
    """With a dynamic non-batch dim, only requests of equal shape share a run."""
    cid = store.put(models.row_sum()).cid
    widths = [3, 3, 5, 5, 3]
    with Scheduler(SessionCache(store), BatchPolicy(max_batch_size=8), start=False) as scheduler:
        futures = [scheduler.submit(cid, {"x": np.ones((1, w), np.float32)}) for w in widths]
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
    assert [float(r.outputs["y"][0, 0]) for r in results] == [float(w) for w in widths]
    by_batch: dict[int, set[int]] = {}
    for w, r in zip(widths, results, strict=True):
        by_batch.setdefault(r.batch.batch_id, set()).add(w)
    assert all(len(ws) == 1 for ws in by_batch.values())


def test_fixed_batch_model_runs_requests_alone(store: AssetStore) -> None:
    """A model with a fixed batch axis gets one request per run."""
    cid = store.put(models.mlp(8, [], 2, batch=1)).cid
    with Scheduler(SessionCache(store), start=False) as scheduler:
        futures = [scheduler.submit(cid, _row(i)) for i in range(3)]
        scheduler.start()
        assert [f.result(timeout=10).batch.batch_size for f in futures] == [1, 1, 1]


def test_refusals_and_close(sessions: SessionCache, mlp_cid: str) -> None:
    """Bad priority and bad shape raise at submit; close fails what is queued, refuses more."""
    scheduler = Scheduler(sessions, start=False)
    with pytest.raises(UnknownTier):
        scheduler.submit(mlp_cid, _row(0), priority=4)
    with pytest.raises(WrongShape):
        scheduler.submit(mlp_cid, {"x": np.ones((1, 9), np.float32)})
    queued = scheduler.submit(mlp_cid, _row(0))
    scheduler.close()
    with pytest.raises(SchedulerClosed):
        queued.result(timeout=10)
    with pytest.raises(SchedulerClosed):
        scheduler.submit(mlp_cid, _row(0))


def test_cancelled_request_is_not_run(sessions: SessionCache, mlp_cid: str) -> None:
    """A request cancelled while queued is dropped from its batch and never metered."""
    with Scheduler(sessions, BatchPolicy(max_batch_size=4), start=False) as scheduler:
        futures: list[Future[CompletedRun]] = [scheduler.submit(mlp_cid, _row(i)) for i in range(3)]
        assert futures[1].cancel()
        scheduler.start()
        kept = [futures[0].result(timeout=10), futures[2].result(timeout=10)]
    assert [r.batch.batch_size for r in kept] == [2, 2]


def test_concurrent_submitters_all_complete_consistently(
    sessions: SessionCache, mlp_cid: str
) -> None:
    """Four threads submitting 600 requests at mixed tiers: every one completes, batches stay
    within the limit, and each batch's apportioned GPU micros sum to its run time."""
    policy = BatchPolicy(max_batch_size=16, max_queue_delay_s=0.001)
    with Scheduler(sessions, policy) as scheduler:

        def submit_some(seed: int) -> list[Future[CompletedRun]]:
            rng = np.random.default_rng(seed)
            return [
                scheduler.submit(
                    mlp_cid,
                    {"x": rng.standard_normal((int(rng.integers(1, 4)), 8), dtype=np.float32)},
                    priority=int(rng.integers(0, 4)),
                )
                for _ in range(150)
            ]

        with ThreadPoolExecutor(4) as pool:
            futures = [f for batch in pool.map(submit_some, range(4)) for f in batch]
        results = [f.result(timeout=20) for f in futures]
        assert scheduler.queue_depth(mlp_cid) == 0
    batches: dict[int, list[CompletedRun]] = {}
    for r in results:
        batches.setdefault(r.batch.batch_id, []).append(r)
    for members in batches.values():
        assert len(members) == members[0].batch.batch_size
        assert sum(m.meter.input_units for m in members) <= 16 * 8
        assert sum(m.meter.gpu_micros for m in members) == members[0].batch.batch_micros
        assert sum(m.batch.share_ppm for m in members) == 1_000_000


def test_a_failing_batch_does_not_stop_the_model(sessions: SessionCache, mlp_cid: str) -> None:
    """A batch whose completion fails gets RunFailed; the model's next batch still runs."""

    def output_bytes(outputs: Mapping[str, np.ndarray]) -> int:
        if outputs["y"].shape[0] == 2:
            raise OSError("disk full")
        return 1

    with Scheduler(sessions, output_bytes=output_bytes) as scheduler:
        with pytest.raises(RunFailed, match="disk full"):
            scheduler.submit(mlp_cid, {"x": np.ones((2, 8), np.float32)}).result(timeout=10)
        ok = scheduler.submit(mlp_cid, _row(1)).result(timeout=10)
    assert ok.meter.storage_bytes == 8 * 4 + 1
