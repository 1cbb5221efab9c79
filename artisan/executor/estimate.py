"""An upper bound on a request's meter, known before it runs, and the clamp that enforces it.

Admission quotes a request on this bound; the meter recorded on chain is the measured meter
clamped field by field to the bound (``clamp``). The cost is nondecreasing in every meter
field, so the charged cost never exceeds the quote: a user's ``maxCost`` and escrow checks made
at admission hold at settlement, and a measurement above the bound is the operator's loss.

Per field, for a request of ``units`` input elements on a model:

- ``input_units``: exact.
- ``gpu_micros``: ``units`` x the model's highest GPU time per input unit among its recent
  executions (the last ``window``), x ``headroom_pct`` / 100, at least ``min_gpu_micros`` (a
  tiny run's time is fixed costs that do not scale with units), at most ``max_gpu_micros``.
- ``latency_micros``: the model's highest recent latency x ``headroom_pct`` / 100, capped at
  ``max_latency_micros`` (latency is set by queueing and whole batches, not by the request).
- ``storage_bytes``: the input asset's size (exact) + the outputs' data bytes where the
  graph's declared shapes give them from the request's (exact: ``declared_output_bytes``),
  else ``units`` x the highest recent output
  data bytes per input unit x headroom + the largest recent output framing (headers).
- ``concurrent_load``: the admission-time queue depth plus requests admitted but not yet
  queued (the scheduler records the queue depth a moment later).

A model without history is probed once: its session runs zeros shaped like the first request
(twice: the first run of a session allocates), and that run seeds the history, its latency as
if it had been a full batch after a full queue delay.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from artisan.domain.types import UINT64_MAX, Meter
from artisan.executor.errors import InvalidArgument
from artisan.executor.sessions import ModelSession, Tensors
from artisan.executor.tensors import encoded_size

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class EstimatePolicy:
    """How generous the bound is, and the most it may be."""

    headroom_pct: int = 200
    window: int = 512  # executions remembered per model (in two halves: see _RecentMax)
    min_gpu_micros: int = 1_000
    max_gpu_micros: int = 10_000_000
    max_latency_micros: int = 60_000_000
    # What a request may really use, from its bound: a run is stopped past
    # budget_factor x its GPU bound + budget_floor_micros (the floor absorbs a noisy machine's
    # jitter), and refused if its input and output assets come to more than
    # budget_factor x its storage bound + budget_floor_bytes. The operator never works more
    # than a constant factor past what was quoted, and the user never pays past the quote.
    budget_factor: int = 4
    budget_floor_micros: int = 250_000
    budget_floor_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.headroom_pct < 100:
            raise InvalidArgument("headroom_pct below 100 would bound under the observed maxima")
        if self.window < 2 or not 0 <= self.min_gpu_micros <= self.max_gpu_micros:
            raise InvalidArgument("window must be >= 2 and 0 <= min_gpu_micros <= max_gpu_micros")
        if self.max_latency_micros < 1:
            raise InvalidArgument("max_latency_micros must be positive")
        if self.budget_factor < 1 or self.budget_floor_micros < 0 or self.budget_floor_bytes < 0:
            raise InvalidArgument("budget_factor must be >= 1 and the budget floors >= 0")

    def run_budget(self, bound: Meter) -> int:
        """Microseconds a request's share of a run may take before the run is stopped."""
        return self.budget_factor * bound.gpu_micros + self.budget_floor_micros

    def storage_allowance(self, bound: Meter) -> int:
        """Input plus output asset bytes a request may come to before it is refused."""
        return self.budget_factor * bound.storage_bytes + self.budget_floor_bytes


@dataclass(slots=True)
class _RecentMax:
    """The maximum of roughly the last ``window`` values in O(1): the max of the current half
    and of the previous one, rolled over every ``window // 2`` values."""

    half: int
    current: int = 0
    previous: int = 0
    count: int = 0

    def add(self, value: int) -> None:
        if self.count >= self.half:
            self.previous, self.current, self.count = self.current, 0, 0
        self.current = max(self.current, value)
        self.count += 1

    @property
    def value(self) -> int:
        return max(self.current, self.previous)


@dataclass(slots=True)
class _History:
    gpu_ppm_per_unit: _RecentMax
    latency_micros: _RecentMax
    output_ppm_per_unit: _RecentMax
    output_framing: _RecentMax
    lock: threading.Lock = field(default_factory=threading.Lock)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def clamp(measured: Meter, bound: Meter) -> Meter:
    """The meter to charge: each measured field, at most its bound."""
    return Meter(
        min(measured.input_units, bound.input_units),
        min(measured.gpu_micros, bound.gpu_micros),
        min(measured.latency_micros, bound.latency_micros),
        min(measured.storage_bytes, bound.storage_bytes),
        min(measured.concurrent_load, bound.concurrent_load),
    )


class MeterEstimator:
    """Recent per-model maxima, and the bound they give a new request."""

    def __init__(
        self, policy: EstimatePolicy, *, max_queue_delay_s: float, max_batch_rows: int
    ) -> None:
        self.policy = policy
        self._delay_micros = int(max_queue_delay_s * 1e6)
        self._batch_rows = max_batch_rows
        self._histories: dict[str, _History] = {}
        self._lock = threading.Lock()

    def estimate(
        self, session: ModelSession, tensors: Tensors, rows: int, input_bytes: int, load: int
    ) -> Meter:
        """The bound for one validated request of ``rows`` rows."""
        units = sum(int(a.size) for a in tensors.values())
        history = self._history(session, tensors, rows, units)
        p, scale = self.policy, self.policy.headroom_pct
        per_unit = max(units, 1)
        gpu = _ceil_div(per_unit * history.gpu_ppm_per_unit.value * scale, PPM * 100)
        latency = _ceil_div(history.latency_micros.value * scale, 100)
        declared = session.declared_output_bytes(tensors)
        # The graph's own shapes give the output's size exactly where they can; history (and
        # the probe that seeds it) only where a dim depends on the inputs' values.
        output = (
            _ceil_div(per_unit * history.output_ppm_per_unit.value * scale, PPM * 100)
            if declared is None
            else declared
        )
        return Meter(
            input_units=units,
            gpu_micros=min(max(gpu, p.min_gpu_micros), p.max_gpu_micros),
            latency_micros=min(max(latency, 1), p.max_latency_micros),
            storage_bytes=min(input_bytes + output + history.output_framing.value, UINT64_MAX),
            concurrent_load=min(load, 2**32 - 1),
        )

    def observe(
        self, cid: str, measured: Meter, output_asset_bytes: int, output_data_bytes: int
    ) -> None:
        """Learn from a completed execution: its measured meter and its output's sizes (the
        whole asset, and the tensors' data bytes in it)."""
        history = self._histories.get(cid)
        if history is None:
            return
        units = max(measured.input_units, 1)
        framing = max(0, output_asset_bytes - output_data_bytes)  # .npy headers, bundle frame
        with history.lock:
            history.gpu_ppm_per_unit.add(_ceil_div(measured.gpu_micros * PPM, units))
            history.latency_micros.add(measured.latency_micros)
            history.output_ppm_per_unit.add(_ceil_div(output_data_bytes * PPM, units))
            history.output_framing.add(framing)

    def has_history(self, cid: str) -> bool:
        """Whether a bound for this model needs no probe run."""
        return cid in self._histories

    def _history(self, session: ModelSession, tensors: Tensors, rows: int, units: int) -> _History:
        history = self._histories.get(session.cid)
        if history is not None:
            return history
        with self._lock:  # one probe per model, however many first requests arrive at once
            history = self._histories.get(session.cid)
            if history is None:
                history = self._probe(session, tensors, rows, units)
                self._histories[session.cid] = history
            return history

    def _probe(self, session: ModelSession, tensors: Tensors, rows: int, units: int) -> _History:
        zeros = {n: np.zeros_like(a) for n, a in tensors.items()}
        # A session's first run allocates its buffers; the second is what batches will see.
        # Each may take at most the longest any request may be quoted for.
        session.execute(zeros, self.policy.max_gpu_micros)
        outputs, micros = session.execute(zeros, self.policy.max_gpu_micros)
        named = dict(zip(session.output_names, outputs, strict=True))
        data_bytes = sum(int(o.nbytes) for o in outputs)
        half = self.policy.window // 2
        history = _History(_RecentMax(half), _RecentMax(half), _RecentMax(half), _RecentMax(half))
        per_unit = max(units, 1)
        history.gpu_ppm_per_unit.add(_ceil_div(micros * PPM, per_unit))
        full_batch = _ceil_div(micros * max(self._batch_rows, rows), max(rows, 1))
        history.latency_micros.add(self._delay_micros + full_batch)
        history.output_ppm_per_unit.add(_ceil_div(data_bytes * PPM, per_unit))
        history.output_framing.add(encoded_size(named) - data_bytes)
        return history
