"""Measured metering: GPU time apportioned exactly by input share, the rest per request."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from artisan.executor.batcher import BatchPolicy
from artisan.executor.measure import PPM, apportion
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import SessionCache


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=64),
)
def test_apportion_sums_exactly_and_is_proportional(total: int, weights: list[int]) -> None:
    """Largest-remainder parts sum to the total and each is within one unit of its quota."""
    parts = apportion(total, weights)
    assert sum(parts) == total and len(parts) == len(weights)
    whole = sum(weights) or len(weights)
    for part, weight in zip(parts, weights if any(weights) else [1] * len(weights), strict=True):
        assert abs(part * whole - total * weight) < whole


def test_apportion_breaks_ties_by_largest_remainder_then_order() -> None:
    """Leftover units go to the largest remainders, the earlier part first on a tie."""
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(10, [1, 2]) == [3, 7]
    assert apportion(7, [3, 3, 1, 1]) == [3, 2, 1, 1]
    assert apportion(0, [0, 0]) == [0, 0]


def test_batch_meters_apportion_gpu_time_by_input_share(
    sessions: SessionCache, mlp_cid: str
) -> None:
    """Three requests of 1, 2 and 5 rows in one batch: GPU micros sum to the batch's run time
    and follow the input shares; units, storage and batch records are per request."""
    rows = (1, 2, 5)
    with Scheduler(sessions, BatchPolicy(max_batch_size=8), start=False) as scheduler:
        futures = [
            scheduler.submit(mlp_cid, {"x": np.ones((n, 8), np.float32)}, input_bytes=100 + n)
            for n in rows
        ]
        scheduler.start()
        results = [f.result(timeout=10) for f in futures]
    batch_micros = results[0].batch.batch_micros
    assert batch_micros > 0
    assert sum(r.meter.gpu_micros for r in results) == batch_micros
    assert sum(r.batch.share_ppm for r in results) == PPM
    total_units = sum(r.meter.input_units for r in results)
    for n, r in zip(rows, results, strict=True):
        assert r.meter.input_units == n * 8
        assert abs(r.meter.gpu_micros * total_units - batch_micros * n * 8) < total_units
        assert r.batch.share_ppm == apportion(PPM, [8, 16, 40])[rows.index(n)]
        assert r.batch.batch_size == 3 and r.batch.batch_id == results[0].batch.batch_id
        assert r.meter.storage_bytes == 100 + n + n * 4 * 4  # input asset + float32 [n, 4]
        assert r.meter.latency_micros >= r.meter.gpu_micros


def test_storage_defaults_to_tensor_bytes(sessions: SessionCache, mlp_cid: str) -> None:
    """Without an input asset size, storage bytes are the input plus output tensor bytes."""
    with Scheduler(sessions) as scheduler:
        result = scheduler.submit(mlp_cid, {"x": np.ones((2, 8), np.float32)}).result(10)
    assert result.meter.storage_bytes == 2 * 8 * 4 + 2 * 4 * 4
    assert result.meter.gpu_micros == result.batch.batch_micros > 0
    assert result.batch.batch_size == 1 and result.batch.share_ppm == PPM
