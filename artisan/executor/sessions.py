"""ONNX Runtime sessions: provider choice, input validation, batched runs, measured time.

A ``SessionCache`` turns a model CID into a ``ModelSession``, asking for the CUDA execution
provider first and falling back to the CPU; the provider a session actually got is logged and
exposed. ``ModelSession.validate`` checks a request's tensors against the model's declared
inputs before anything runs; ``run_batch`` concatenates requests along the batch axis, runs
once, times the run and splits the outputs back.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from artisan.executor.assets import AssetStore
from artisan.executor.errors import (
    ExecutorError,
    InvalidArgument,
    InvalidInput,
    MissingInput,
    ModelLoadError,
    RunFailed,
    RunOverBudget,
    UnknownInput,
    WrongDtype,
    WrongShape,
)
from artisan.executor.flights import Flights

log = logging.getLogger(__name__)

Tensor = NDArray[Any]
Tensors = Mapping[str, Tensor]

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_DTYPES: dict[str, np.dtype[Any]] = {
    f"tensor({onnx_name})": np.dtype(np_name)
    for onnx_name, np_name in [
        ("float", "float32"), ("double", "float64"), ("float16", "float16"),
        ("int8", "int8"), ("int16", "int16"), ("int32", "int32"), ("int64", "int64"),
        ("uint8", "uint8"), ("uint16", "uint16"), ("uint32", "uint32"), ("uint64", "uint64"),
        ("bool", "bool"),
    ]
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How sessions are made: try CUDA first (then CPU), on which device, with how many threads."""

    prefer_cuda: bool = True
    device_id: int = 0
    intra_op_threads: int = 0  # 0: ONNX Runtime's default (one per core)
    # The most memory ONNX Runtime may hold for all runs of the process together (one arena
    # shared by every session on the CPU; on CUDA, each session's gpu_mem_limit): a run that
    # needs more is refused when it asks, before it allocates. 0: no limit.
    memory_limit_bytes: int = 8 * 2**30


# A run whose inputs are this large gives its arena memory back afterwards (a per-run option
# of ONNX Runtime): small runs keep the arena warm, large ones do not leave it grown for good.
SHRINK_AFTER_BYTES = 16 * 2**20


# ONNX Runtime's environment is one per process, and so is the CPU arena registered in it:
# the first SessionCache to load a session sets its limit (later ones log a differing one).
_ENV_ARENA_LOCK = threading.Lock()
_env_arena_limit: list[int] = []


def _shared_cpu_arena(limit: int) -> None:
    with _ENV_ARENA_LOCK:
        if _env_arena_limit:
            if _env_arena_limit[0] != limit:
                log.warning("the process's ONNX Runtime arena is capped at %d bytes already;"
                            " %d is ignored", _env_arena_limit[0], limit)  # fmt: skip
            return
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                 ort.OrtMemType.DEFAULT)  # fmt: skip
        # max_mem, arena_extend_strategy 1 (kSameAsRequested: grow by what a run asks, not by
        # doubling), the other two at ONNX Runtime's defaults.
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(limit, 1, -1, -1))
        _env_arena_limit.append(limit)


def _memory_refusal(message: str) -> bool:
    """Whether ONNX Runtime failed a run because an allocation was over the memory limit."""
    return "Available memory of" in message or "Failed to allocate memory" in message


class Watchdog:
    """Stops runs that pass their deadline: one thread for every session of the process (a
    timer thread per run would cost more than a small run itself)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, ort.RunOptions]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, options: ort.RunOptions, seconds: float) -> int:
        """Set ``options.terminate`` in ``seconds`` unless ``release``d first; a ticket."""
        ticket = next(self._ids)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="run-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (time.monotonic() + seconds, ticket, options))
            self._cond.notify()
        return ticket

    def release(self, ticket: int) -> None:
        with self._cond:
            self._due = [d for d in self._due if d[1] != ticket]
            heapq.heapify(self._due)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    heapq.heappop(self._due)[2].terminate = True
                self._cond.wait(None if not self._due else self._due[0][0] - now)


WATCHDOG = Watchdog()


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared model input: name, element type and shape (``None`` for a dynamic dim)."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"


@dataclass(frozen=True, slots=True)
class BatchRun:
    """One run of several requests: each request's outputs and the run's wall time."""

    outputs: tuple[dict[str, Tensor], ...]
    run_micros: int


def _dims(shape: Sequence[object] | None) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)


class ModelSession:
    """One ONNX Runtime session for one model, and what it declares."""

    def __init__(self, cid: str, session: ort.InferenceSession, device_id: int = 0) -> None:
        self.cid = cid
        self.provider: str = session.get_providers()[0]
        self._session = session
        self._device_id = device_id
        self.inputs = tuple(self._input_spec(arg) for arg in session.get_inputs())
        self.output_names = tuple(arg.name for arg in session.get_outputs())
        self._output_list = list(self.output_names)
        self._by_name = {spec.name: spec for spec in self.inputs}
        output_dims = [_dims(arg.shape) for arg in session.get_outputs()]
        # What the graph declares of its outputs' shapes, symbolic dims by name (as inputs
        # name them): an output whose every dim is a number or an input's symbol has a size
        # known from the request alone (``declared_output_bytes``).
        self._input_symbols = {arg.name: list(arg.shape or ()) for arg in session.get_inputs()}
        self._output_decl: list[tuple[list[Any] | None, np.dtype[Any] | None]] = [
            (list(arg.shape) if arg.shape is not None else None, _DTYPES.get(arg.type))
            for arg in session.get_outputs()
        ]
        # Requests can share a run only if every input and output has a dynamic first axis.
        self.batchable = all(
            len(spec.shape) >= 1 and spec.shape[0] is None for spec in self.inputs
        ) and all(dims is not None and len(dims) >= 1 and dims[0] is None for dims in output_dims)
        # With every non-batch dim fixed, any two valid requests concatenate; otherwise only
        # requests whose non-batch dims agree do (the scheduler groups them by those dims).
        self.fixed_tail = all(d is not None for spec in self.inputs for d in spec.shape[1:])
        self._use_iobinding = self.provider == CUDA

    def declared_output_bytes(self, tensors: Tensors) -> int | None:
        """The outputs' data bytes for these (validated) inputs, from the graph's declared
        shapes, where they give it: None when a dim depends on the inputs' values."""
        symbols: dict[str, int] = {}
        for name, dims in self._input_symbols.items():
            array = tensors.get(name)
            if array is None or len(dims) != array.ndim:
                return None
            for dim, actual in zip(dims, array.shape, strict=True):
                if isinstance(dim, str):
                    symbols[dim] = int(actual)
        total = 0
        for declared, dtype in self._output_decl:
            if declared is None or dtype is None:
                return None
            count = 1
            for dim in declared:
                if isinstance(dim, int) and dim >= 0:
                    count *= dim
                elif isinstance(dim, str) and dim in symbols:
                    count *= symbols[dim]
                else:
                    return None
            total += count * dtype.itemsize
        return total

    def _input_spec(self, arg: Any) -> InputSpec:
        dtype = _DTYPES.get(arg.type)
        dims = _dims(arg.shape)
        if dtype is None or dims is None:
            raise ModelLoadError(f"model {self.cid}: input {arg.name!r} has unsupported {arg.type}")
        return InputSpec(name=arg.name, dtype=dtype, shape=dims)

    def validate(self, tensors: Tensors) -> int:
        """Check names, dtypes and shapes against the declared inputs; return the request's
        number of rows on the batch axis (1 for a model that cannot batch)."""
        for name in tensors:
            if name not in self._by_name:
                raise UnknownInput(
                    f"unknown input {name!r} for model {self.cid}; it declares {self._declared()}"
                )
        rows = -1
        for spec in self.inputs:
            array = tensors.get(spec.name)
            if array is None:
                raise MissingInput(
                    f"missing input {spec.name!r} ({spec.describe()}) for model {self.cid}"
                )
            if not isinstance(array, np.ndarray):
                raise InvalidInput(f"input {spec.name!r} must be a numpy array")
            if array.dtype != spec.dtype:
                raise WrongDtype(
                    f"input {spec.name!r} has dtype {array.dtype}; model {self.cid} expects"
                    f" {spec.dtype}"
                )
            shape = array.shape
            if len(shape) != len(spec.shape) or any(
                want is not None and got != want
                for got, want in zip(shape, spec.shape, strict=True)
            ):
                raise WrongShape(
                    f"input {spec.name!r} has shape {list(shape)}; model {self.cid} expects"
                    f" {spec.describe()} (? = any size)"
                )
            if self.batchable:
                if shape[0] < 1:
                    raise WrongShape(f"input {spec.name!r} has no rows on the batch axis")
                if rows not in (-1, shape[0]):
                    raise WrongShape(
                        f"inputs disagree on the batch axis: {spec.name!r} has {shape[0]} rows,"
                        f" another input has {rows}"
                    )
                rows = shape[0]
        return rows if self.batchable else 1

    def _declared(self) -> str:
        return ", ".join(f"{s.name!r} {s.describe()}" for s in self.inputs)

    def execute(self, feed: Tensors, budget_micros: int | None = None) -> tuple[list[Tensor], int]:
        """Run once on already validated tensors: outputs in ``output_names`` order and the
        run's wall time in microseconds. With ``budget_micros``, a run still going after that
        long is stopped (ONNX Runtime's terminate flag) and raises ``RunOverBudget``."""
        options = ort.RunOptions()
        big = sum(int(a.nbytes) for a in feed.values()) >= SHRINK_AFTER_BYTES
        if big:  # give a large run's arena memory back, instead of keeping it for good
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        ticket = None if budget_micros is None else WATCHDOG.watch(options, budget_micros / 1e6)
        try:
            start = time.perf_counter_ns()
            if self._use_iobinding:
                outputs = self._run_bound(feed, options)
            else:
                outputs = self._session.run(self._output_list, dict(feed), options)
            elapsed = time.perf_counter_ns() - start
        except Exception as exc:  # ONNX Runtime raises its own unrelated exception types
            if options.terminate:
                raise RunOverBudget(
                    f"model {self.cid}: the run went past its budget of {budget_micros} us"
                    " (what its requests were quoted for) and was stopped"
                ) from exc
            if _memory_refusal(str(exc)):
                raise RunOverBudget(
                    f"model {self.cid}: the run needs more memory than this executor allows"
                    " its runs; refused before allocating it"
                ) from exc
            raise RunFailed(f"model {self.cid} failed on {self.provider}: {exc}") from exc
        finally:
            if ticket is not None:
                WATCHDOG.release(ticket)
        return outputs, (elapsed + 500) // 1000

    def _run_bound(self, feed: Tensors, options: ort.RunOptions) -> list[Tensor]:
        # IOBinding on CUDA: each input is copied to the device once, outputs are allocated on
        # the device and copied back in one explicit step; the measured time covers both copies,
        # so the metered GPU time includes the transfers a request causes.
        binding = self._session.io_binding()
        for name, array in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in self.output_names:
            binding.bind_output(name, "cuda", self._device_id)
        self._session.run_with_iobinding(binding, options)
        outputs: list[Tensor] = binding.copy_outputs_to_cpu()
        return outputs

    def run(self, tensors: Tensors) -> dict[str, Tensor]:
        """Validate and run one request."""
        self.validate(tensors)
        outputs, _ = self.execute(tensors)
        return dict(zip(self.output_names, outputs, strict=True))

    def run_batch(
        self,
        requests: Sequence[Tensors],
        rows: Sequence[int] | None = None,
        budget_micros: int | None = None,
    ) -> BatchRun:
        """Run several requests as one: concatenate along the batch axis, run once, split.

        ``rows`` (from ``validate``) skips re-validation; every request must then have passed it.
        ``budget_micros`` bounds the run's time (``execute``).
        """
        if not requests:
            raise InvalidInput("an empty batch")
        if rows is None:
            rows = [self.validate(request) for request in requests]
        if len(requests) == 1:
            outputs, micros = self.execute(requests[0], budget_micros)
            return BatchRun((dict(zip(self.output_names, outputs, strict=True)),), micros)
        if not self.batchable:
            raise InvalidInput(f"model {self.cid} has a fixed batch axis; run requests alone")
        feed = {
            spec.name: np.concatenate([request[spec.name] for request in requests])
            for spec in self.inputs
        }
        outputs, micros = self.execute(feed, budget_micros)
        total = sum(rows)
        for name, output in zip(self.output_names, outputs, strict=True):
            if output.ndim < 1 or output.shape[0] != total:
                raise RunFailed(
                    f"model {self.cid}: output {name!r} has shape {list(output.shape)}, not"
                    f" {total} rows along the batch axis"
                )
        split: list[dict[str, Tensor]] = []
        offset = 0
        for count in rows:
            end = offset + count
            split.append(
                {n: o[offset:end] for n, o in zip(self.output_names, outputs, strict=True)}
            )
            offset = end
        return BatchRun(tuple(split), micros)


# The largest model file `artisan models register` pins (ONNX's protobuf limit is 2 GiB; larger
# models keep their weights in external files, which the asset store does not hold).
MAX_MODEL_BYTES = 2**31 - 1


def check_model(data: bytes, *, max_bytes: int = MAX_MODEL_BYTES) -> ModelSession:
    """Load ``data`` as ONNX Runtime would serve it (on the CPU), or ``ModelLoadError`` saying
    why not: what `models register` checks before anything is stored or registered."""
    if len(data) > max_bytes:
        raise ModelLoadError(f"the model file is {len(data)} bytes, over {max_bytes}")
    try:
        raw = ort.InferenceSession(data, ort.SessionOptions(), providers=[CPU])
    except Exception as exc:  # ONNX Runtime raises its own unrelated exception types
        raise ModelLoadError(f"ONNX Runtime cannot load this model: {exc}") from exc
    try:
        return ModelSession("unregistered", raw, 0)
    except ExecutorError as exc:  # declares inputs we cannot serve
        raise ModelLoadError(str(exc)) from exc


class SessionCache:
    """Model sessions by CID, loaded from the store (digest-checked) on first use, LRU-bounded."""

    def __init__(
        self, store: AssetStore, config: SessionConfig | None = None, capacity: int = 16
    ) -> None:
        if capacity < 1:
            raise InvalidArgument("capacity must be at least 1")
        self._store = store
        self._config = config or SessionConfig()
        self._capacity = capacity
        self._sessions: OrderedDict[str, ModelSession] = OrderedDict()
        self._flights: Flights[str, ModelSession] = Flights()  # loads under way, by CID
        self._loads = threading.Lock()  # one load at a time, outside ``_lock``
        self._lock = threading.Lock()
        # Learned from the first session: once CUDA failed to load, later sessions go straight
        # to the CPU instead of retrying (and re-logging) the failed library load each time.
        self._cuda_works: bool | None = None

    def get(self, cid: str) -> ModelSession:
        """The session for a model CID, loading it on first use.

        A load (reading and checking the file, then building the session: seconds for a large
        model) runs outside the cache's lock, so the requests for models already loaded go on
        meanwhile. The requests for the model being loaded wait for that one load and share its
        session, or its error (an error is not kept here). Loads run one at a time: each can
        take the model's size again in memory, and on a GPU its memory limit, so several cold
        models at once could fail for want of memory that one at a time would not.
        """
        session = self._cached(cid)
        if session is not None:
            return session
        return self._flights.load(cid, lambda: self._load_once(cid))

    def _cached(self, cid: str) -> ModelSession | None:
        with self._lock:
            session = self._sessions.get(cid)
            if session is not None:
                self._sessions.move_to_end(cid)
            return session

    def _load_once(self, cid: str) -> ModelSession:
        # A load that ended between our look and this flight's start has stored it.
        session = self._cached(cid)
        if session is not None:
            return session
        with self._loads:
            session = self._load(cid)
        with self._lock:
            self._sessions[cid] = session
            if len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)
        return session

    def __contains__(self, cid: object) -> bool:
        with self._lock:
            return cid in self._sessions

    def providers(self) -> list[str]:
        """The providers a new session would ask for, in order of preference."""
        cfg = self._config
        wants_cuda = cfg.prefer_cuda and self._cuda_works is not False
        if wants_cuda and CUDA in ort.get_available_providers():
            return [CUDA, CPU]
        return [CPU]

    def _load(self, cid: str) -> ModelSession:
        model = self._store.get(cid)
        providers = self.providers()
        options = ort.SessionOptions()
        if self._config.intra_op_threads:
            options.intra_op_num_threads = self._config.intra_op_threads
        limit = self._config.memory_limit_bytes
        if limit:
            _shared_cpu_arena(limit)
            options.add_session_config_entry("session.use_env_allocators", "1")
        cuda: dict[str, Any] = {"device_id": self._config.device_id}
        if limit:
            cuda["gpu_mem_limit"] = limit
        provider_args: list[Any] = [(CUDA, cuda) if p == CUDA else p for p in providers]
        # The first time CUDA is asked for, ONNX Runtime's own logger is hushed: on a machine
        # without the CUDA libraries it prints a red "Failed to load library" before it falls
        # back to the CPU, which reads as a failure. Whether CUDA works is said once, below.
        probing = CUDA in providers and self._cuda_works is None
        if probing:
            ort.set_default_logger_severity(4)
        try:
            raw = ort.InferenceSession(model, options, providers=provider_args)
        except Exception as exc:  # ONNX Runtime raises its own unrelated exception types
            raise ModelLoadError(f"ONNX Runtime cannot load model {cid}: {exc}") from exc
        finally:
            if probing:
                ort.set_default_logger_severity(2)
        session = ModelSession(cid, raw, self._config.device_id)
        if CUDA in providers:
            self._cuda_works = session.provider == CUDA
            if not self._cuda_works:
                log.info("no usable CUDA here (its libraries do not load): runs use the CPU")
        log.info("model %s: session on %s", cid, session.provider)
        return session
