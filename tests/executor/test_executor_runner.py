"""ONNX Runtime sessions: validation before running, batched runs equal single runs."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from artisan.executor.assets import AssetStore
from artisan.executor.errors import (
    CorruptAsset,
    InvalidInput,
    MissingInput,
    UnknownInput,
    WrongDtype,
    WrongShape,
)
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import CPU, CUDA, ModelSession, SessionCache, SessionConfig
from artisan.testing import onnx_models as models
from tests.executor.threads import in_thread
from tests.waiting import wait_until


def _affine_inputs(rows: int) -> dict[str, np.ndarray]:
    return {
        "x": np.ones((rows, 3), dtype=np.float32),
        "offset": np.arange(rows, dtype=np.int64).reshape(rows, 1),
    }


def test_session_exposes_provider_and_declared_inputs(
    sessions: SessionCache, affine_cid: str
) -> None:
    """A session reports the provider it runs on and the inputs the model declares."""
    session = sessions.get(affine_cid)
    assert session.provider in (CUDA, CPU)
    assert [(s.name, str(s.dtype), s.shape) for s in session.inputs] == [
        ("x", "float32", (None, 3)),
        ("offset", "int64", (None, 1)),
    ]
    assert session.output_names == ("y",) and session.batchable
    assert sessions.get(affine_cid) is session


def test_cpu_only_config_runs_on_cpu(store: AssetStore, mlp_cid: str) -> None:
    """With CUDA not preferred, the session runs on the CPU provider."""
    cache = SessionCache(store, SessionConfig(prefer_cuda=False))
    assert cache.providers() == [CPU]
    assert cache.get(mlp_cid).provider == CPU


def test_cache_is_bounded(store: AssetStore) -> None:
    """The session cache keeps at most its capacity, dropping the least recently used."""
    cache = SessionCache(store, SessionConfig(prefer_cuda=False), capacity=2)
    a, b, c = (store.put(models.mlp(4, [], 2, seed=s)).cid for s in range(3))
    cache.get(a)
    cache.get(b)
    cache.get(a)
    cache.get(c)
    assert a in cache and c in cache and b not in cache


class SlowDisk(AssetStore):
    """A store whose reads of one file wait until released: a slow disk, or a large model."""

    def __init__(self, root: Path, slow: str) -> None:
        super().__init__(root)
        self.slow = slow
        self.reading = threading.Event()
        self.release = threading.Event()
        self.reads: list[str] = []
        self.fail = False

    def get(self, cid: str) -> bytes:
        self.reads.append(cid)
        if cid == self.slow:
            self.reading.set()
            assert self.release.wait(120), "the test never released the slow read"
            if self.fail:
                raise CorruptAsset(f"the file of {cid} cannot be read (injected)")
        return super().get(cid)


def test_a_model_loading_holds_up_only_its_own_requests(tmp_path: Path) -> None:
    """While one model's file is still being read (its first request inside the scheduler),
    models already loaded are served, and the scheduler opens its door to one of them that
    has no batcher yet: neither the cache's lock nor the scheduler's is held across a load.
    A third model's load waits its turn (loads run one at a time)."""
    probe = AssetStore(tmp_path / "assets")
    loaded, slow, other, cold = (probe.put(models.mlp(4, [], 2, seed=s)).cid for s in range(4))
    store = SlowDisk(tmp_path / "assets", slow)
    cache = SessionCache(store, SessionConfig(prefer_cuda=False))
    scheduler = Scheduler(cache)
    session = cache.get(loaded)
    cache.get(other)  # loaded (as admission does first), no batcher yet
    row = {"x": np.ones((1, 4), np.float32)}
    # The slow model's first request, through the scheduler (which makes its batcher).
    stuck, stuck_out = in_thread(lambda: scheduler.submit(slow, row))
    assert store.reading.wait(30)
    try:
        served, served_out = in_thread(lambda: cache.get(loaded))
        door, door_out = in_thread(lambda: scheduler.submit(other, row))
        waits, waits_out = in_thread(lambda: cache.get(cold))
        for thread in (served, door):
            thread.join(10)
        held = [t.name for t in (served, door) if t.is_alive()]
        assert not held, f"held up by another model's load: {held}"
        assert served_out == [session]
        assert door_out and isinstance(door_out[0], Future), door_out
        assert door_out[0].result(30).outputs["y"].shape == (1, 2)
        waits.join(0.5)
        assert stuck.is_alive() and slow not in cache  # the slow load is still under way
        assert waits.is_alive() and cold not in cache  # and the next load waits for it
        store.release.set()
        for thread in (stuck, waits):
            thread.join(30)
        assert slow in cache and cold in cache and len(stuck_out) == 1
        assert [s.cid for s in waits_out if isinstance(s, ModelSession)] == [cold]
        ran = stuck_out[0]
        assert isinstance(ran, Future), ran
        assert ran.result(30).outputs["y"].shape == (1, 2)
    finally:
        store.release.set()
        scheduler.close()


def test_requests_that_arrive_while_a_model_loads_share_that_one_load(tmp_path: Path) -> None:
    """Several first requests for one model read its file and build its session once; a load
    that fails fails each of them with its error, and is not kept: the next request loads
    again."""
    probe = AssetStore(tmp_path / "assets")
    slow = probe.put(models.mlp(4, [], 2, seed=9)).cid
    store = SlowDisk(tmp_path / "assets", slow)
    cache = SessionCache(store, SessionConfig(prefer_cuda=False))
    store.fail = True
    waiting = [in_thread(lambda: cache.get(slow)) for _ in range(4)]
    assert store.reading.wait(30)
    wait_until(
        lambda: cache._flights.waiting(slow) == 3, 30.0
    )  # the other three wait for this load
    store.release.set()
    for thread, _ in waiting:
        thread.join(30)
    errors = [out[0] for _, out in waiting]
    assert all(isinstance(e, CorruptAsset) and slow in str(e) for e in errors), errors
    assert store.reads == [slow]
    store.fail = False
    store.reading.clear()
    store.release.clear()
    waiting = [in_thread(lambda: cache.get(slow)) for _ in range(4)]
    assert store.reading.wait(30)
    wait_until(lambda: cache._flights.waiting(slow) == 3, 30.0)
    store.release.set()
    for thread, _ in waiting:
        thread.join(30)
    sessions = [out[0] for _, out in waiting]
    assert all(isinstance(s, ModelSession) for s in sessions), sessions
    assert len({id(s) for s in sessions}) == 1 and slow in cache
    assert store.reads == [slow, slow]


@pytest.mark.parametrize(
    ("tensors", "error", "message"),
    [
        ({**_affine_inputs(2), "z": np.ones((2, 3), np.float32)}, UnknownInput, "'z'"),
        ({"x": np.ones((2, 3), np.float32)}, MissingInput, "'offset'"),
        ({**_affine_inputs(2), "x": np.ones((2, 3), np.float64)}, WrongDtype, "float64"),
        ({**_affine_inputs(2), "offset": np.ones((2, 1), np.int32)}, WrongDtype, "int32"),
        ({**_affine_inputs(2), "x": np.ones((2, 4), np.float32)}, WrongShape, r"\[2, 4\]"),
        ({**_affine_inputs(2), "x": np.ones((3,), np.float32)}, WrongShape, r"\[3\]"),
        ({**_affine_inputs(2), "x": np.ones((3, 3), np.float32)}, WrongShape, "disagree"),
        (_affine_inputs(0), WrongShape, "no rows"),
        ({**_affine_inputs(2), "x": [[1.0] * 3] * 2}, InvalidInput, "numpy array"),
    ],
    ids=["unknown", "missing", "dtype", "dtype2", "dim", "rank", "rows", "empty", "list"],
)
def test_bad_input_is_refused_before_running(
    sessions: SessionCache,
    affine_cid: str,
    tensors: dict[str, np.ndarray],
    error: type[InvalidInput],
    message: str,
) -> None:
    """Each kind of bad input raises its own error naming the problem, from run and run_batch."""
    session = sessions.get(affine_cid)
    with pytest.raises(error, match=message):
        session.run(tensors)
    with pytest.raises(error, match=message):
        session.run_batch([_affine_inputs(1), tensors])


def test_outputs_match_the_onnx_reference(store: AssetStore, sessions: SessionCache) -> None:
    """ONNX Runtime's outputs equal the ONNX reference evaluator's on the same model."""
    model = models.mlp(8, [16, 16], 4, seed=11)
    cid = store.put(model).cid
    x = np.random.default_rng(0).standard_normal((5, 8), dtype=np.float32)
    (expected,) = ReferenceEvaluator(onnx.load_from_string(model)).run(None, {"x": x})
    assert isinstance(expected, np.ndarray)
    np.testing.assert_allclose(sessions.get(cid).run({"x": x})["y"], expected, rtol=1e-5)


def test_batched_outputs_equal_per_request_outputs(sessions: SessionCache, mlp_cid: str) -> None:
    """Requests of 1, 3 and 2 rows run as one batch give each request its own outputs."""
    session = sessions.get(mlp_cid)
    rng = np.random.default_rng(1)
    requests = [{"x": rng.standard_normal((n, 8), dtype=np.float32)} for n in (1, 3, 2)]
    batch = session.run_batch(requests)
    assert batch.run_micros > 0 and len(batch.outputs) == 3
    for request, outputs in zip(requests, batch.outputs, strict=True):
        alone = session.run(request)["y"]
        assert outputs["y"].shape == alone.shape
        np.testing.assert_allclose(outputs["y"], alone, rtol=1e-5, atol=1e-6)


def test_fixed_batch_axis_is_not_batchable(store: AssetStore, sessions: SessionCache) -> None:
    """A model whose batch axis is fixed runs requests alone, never concatenated."""
    session = sessions.get(store.put(models.mlp(4, [], 2, batch=1)).cid)
    assert not session.batchable
    one = {"x": np.ones((1, 4), np.float32)}
    assert session.validate(one) == 1
    with pytest.raises(InvalidInput, match="alone"):
        session.run_batch([one, one])


@pytest.mark.gpu
def test_cuda_session_uses_iobinding_and_matches_cpu(store: AssetStore, mlp_cid: str) -> None:
    """Where CUDA loads, the session runs on it (IOBinding) and agrees with the CPU provider."""
    gpu = SessionCache(store).get(mlp_cid)
    if gpu.provider != CUDA:
        pytest.skip("no usable CUDA execution provider on this machine")
    cpu = SessionCache(store, SessionConfig(prefer_cuda=False)).get(mlp_cid)
    x = {"x": np.random.default_rng(2).standard_normal((4, 8), dtype=np.float32)}
    np.testing.assert_allclose(gpu.run(x)["y"], cpu.run(x)["y"], rtol=1e-3, atol=1e-4)
