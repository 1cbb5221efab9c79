"""The executor's front door: validates requests and routes them to one batcher per model.

``submit`` validates a request against its model's declared inputs (bad input raises there,
before anything is queued or run), counts its input elements and bytes, and hands it to the
model's ``ModelBatcher``, created with its session on the model's first request.

Threads: two per model (see ``batcher``), none per request. ONNX Runtime releases the GIL while
it runs; the Python threads around it still take turns on the GIL, and a thread waiting for it
may wait a whole switch interval (5 ms by default) behind a busy one. A serving process should
lower it (``sys.setswitchinterval(0.0005)``) so a finished run is followed promptly by the next.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future

from artisan.executor.batcher import (
    TIERS,
    BatchObserver,
    BatchPolicy,
    CompletedRun,
    ModelBatcher,
    OutputBytes,
)
from artisan.executor.errors import SchedulerClosed, UnknownTier
from artisan.executor.measure import tensor_bytes
from artisan.executor.sessions import SessionCache, Tensors


class Scheduler:
    """Admits requests for any model in the session cache and batches them per model."""

    def __init__(
        self,
        sessions: SessionCache,
        policy: BatchPolicy | None = None,
        *,
        output_bytes: OutputBytes = tensor_bytes,
        start: bool = True,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_batch = on_batch
        self._policy = policy or BatchPolicy()
        self._output_bytes = output_bytes
        self._started = start
        self._closed = False
        self._batchers: dict[str, ModelBatcher] = {}
        self._lock = threading.Lock()
        self._batch_ids = itertools.count(1)  # next() on a count is atomic under the GIL

    def submit(
        self,
        model_cid: str,
        tensors: Tensors,
        priority: int = 0,
        *,
        input_bytes: int | None = None,
        budget_micros: int | None = None,
    ) -> Future[CompletedRun]:
        """Validate and queue one request; ``input_bytes`` is the size of its input asset
        (default: the tensors' raw bytes), ``budget_micros`` the run time it was quoted for (its
        batch is stopped past the sum of its requests' budgets). Bad input raises here, before
        anything runs."""
        if type(priority) is not int or not 0 <= priority < TIERS:
            raise UnknownTier(f"priority must be a tier 0..{TIERS - 1}, got {priority!r}")
        batcher = self._batchers.get(model_cid) or self._batcher(model_cid)
        session = batcher.session
        rows = session.validate(tensors)
        key = (
            None
            if session.fixed_tail
            else tuple(tensors[spec.name].shape[1:] for spec in session.inputs)
        )
        units = 0
        nbytes = 0
        for array in tensors.values():
            units += array.size
            nbytes += array.nbytes
        if input_bytes is not None:
            nbytes = input_bytes
        return batcher.admit(tensors, rows, key, priority, units, nbytes, budget_micros)

    def queue_depth(self, model_cid: str) -> int:
        """Requests of a model waiting to be batched now."""
        batcher = self._batchers.get(model_cid)
        return 0 if batcher is None else batcher.depth

    def depths(self) -> dict[tuple[str, int], int]:
        """Requests waiting now, per model and priority tier (for the metrics)."""
        return {
            (cid, tier): depth
            for cid, batcher in list(self._batchers.items())
            for tier, depth in enumerate(batcher.tier_depths())
        }

    def provider(self, model_cid: str) -> str:
        """The execution provider a model's session runs on (loads the model if needed)."""
        return (self._batchers.get(model_cid) or self._batcher(model_cid)).session.provider

    def start(self) -> None:
        """Start serving (for a scheduler made with ``start=False``)."""
        with self._lock:
            self._started = True
            for batcher in self._batchers.values():
                batcher.start()

    def close(self) -> None:
        """Fail what is still queued with ``SchedulerClosed``, finish running batches, stop."""
        with self._lock:
            self._closed = True
            batchers = list(self._batchers.values())
        for batcher in batchers:
            batcher.close()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _batcher(self, model_cid: str) -> ModelBatcher:
        if self._closed:
            raise SchedulerClosed("the scheduler is closed")
        # The session first, outside the lock: a model still loading holds up its own first
        # requests, not every other model's.
        session = self._sessions.get(model_cid)
        with self._lock:
            if self._closed:
                raise SchedulerClosed("the scheduler is closed")
            batcher = self._batchers.get(model_cid)
            if batcher is None:
                batcher = ModelBatcher(session, self._policy, self._batch_ids, self._output_bytes,
                                       self._on_batch)  # fmt: skip
                self._batchers[model_cid] = batcher
                if self._started:
                    batcher.start()
            return batcher
