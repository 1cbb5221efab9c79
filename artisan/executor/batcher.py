"""One model's dynamic batching: priority queues, a batcher thread and a completer thread.

``admit`` (called by the scheduler from any thread) stamps a request with the model's queue
depth (its concurrent load) and appends it to its tier's queue under one short lock; the caller
gets a ``concurrent.futures.Future`` (``asyncio.wrap_future`` bridges it to an event loop).

Per model, a batcher thread owns the session: it waits for ``max_batch_size`` rows or until
the oldest request has waited ``max_queue_delay_s``, takes requests from the highest tier down,
concatenates them once and runs them once. ONNX Runtime releases the GIL while it runs, so a
completer thread meters the previous batch, splits its outputs and resolves its futures in the
meantime: per-request Python work overlaps the next run instead of adding to it.

A request still queued when its tier's timeout passes fails with ``QueueTimeout``; timeouts are
checked each time a batch is formed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import NamedTuple

from artisan.domain.types import Meter
from artisan.executor.errors import (
    ExecutorError,
    InvalidArgument,
    QueueTimeout,
    RunFailed,
    SchedulerClosed,
)
from artisan.executor.measure import BatchShare, meter_batch
from artisan.executor.sessions import BatchRun, ModelSession, Tensor, Tensors

log = logging.getLogger(__name__)

TIERS = 4
OutputBytes = Callable[[Mapping[str, Tensor]], int]
# Told of each completed batch: the model, its measured run time (microseconds) and each
# request's apportioned share of it (the metrics, ``executor.metrics``).
BatchObserver = Callable[[str, int, Sequence[int]], None]


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How a model's requests are batched and how long each tier may wait."""

    max_batch_size: int = 32  # rows along the batch axis per run; a bigger request runs alone
    max_queue_delay_s: float = 0.002  # how long the oldest request waits for the batch to fill
    tier_timeouts_s: tuple[float, float, float, float] = (30.0, 30.0, 30.0, 30.0)

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise InvalidArgument("max_batch_size must be at least 1")
        if self.max_queue_delay_s < 0:
            raise InvalidArgument("max_queue_delay_s must not be negative")
        if len(self.tier_timeouts_s) != TIERS or any(t <= 0 for t in self.tier_timeouts_s):
            raise InvalidArgument("tier_timeouts_s needs four positive timeouts (tiers 0..3)")


@dataclass(frozen=True, slots=True)
class CompletedRun:
    """A completed request: its outputs, its measured meter and the batch it ran in."""

    model_cid: str
    priority: int
    provider: str
    outputs: dict[str, Tensor]
    meter: Meter
    batch: BatchShare


class _Pending(NamedTuple):
    # A NamedTuple: immutable and cheaper to build than a frozen dataclass, once per request.
    tensors: Tensors
    rows: int
    key: object  # non-batch dims, for models whose non-batch dims are dynamic; else None
    priority: int
    input_units: int
    input_bytes: int
    concurrent_load: int
    admitted_ns: int
    future: Future[CompletedRun]
    budget_micros: int | None  # the run time this request was quoted for; None: unbounded


def _fail(future: Future[CompletedRun], error: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):  # the caller cancelled it meanwhile
        future.set_exception(error)


class ModelBatcher:
    """The queues, batcher thread and completer thread of one model."""

    def __init__(
        self,
        session: ModelSession,
        policy: BatchPolicy,
        batch_ids: Iterator[int],
        output_bytes: OutputBytes,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.session = session
        self._on_batch = on_batch
        self._policy = policy
        self._max_rows = policy.max_batch_size if session.batchable else 1
        self._delay_ns = int(policy.max_queue_delay_s * 1e9)
        self._timeouts_ns = tuple(int(t * 1e9) for t in policy.tier_timeouts_s)
        self._batch_ids = batch_ids
        self._output_bytes = output_bytes
        self._queues: tuple[deque[_Pending], ...] = tuple(deque() for _ in range(TIERS))
        self._depth = 0
        self._rows = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())
        self._done: queue.SimpleQueue[tuple[int, list[_Pending], BatchRun] | None] = (
            queue.SimpleQueue()
        )
        name = session.cid[-12:]
        self._batcher = threading.Thread(target=self._serve, name=f"batch-{name}", daemon=True)
        self._completer = threading.Thread(
            target=self._complete, name=f"complete-{name}", daemon=True
        )

    def start(self) -> None:
        if not self._batcher.is_alive():
            self._batcher.start()
            self._completer.start()

    @property
    def depth(self) -> int:
        return self._depth

    def tier_depths(self) -> tuple[int, ...]:
        """Requests waiting in each tier's queue now (read without the lock: a gauge)."""
        return tuple(len(q) for q in self._queues)

    def admit(
        self,
        tensors: Tensors,
        rows: int,
        key: object,
        priority: int,
        units: int,
        nbytes: int,
        budget_micros: int | None = None,
    ) -> Future[CompletedRun]:
        future: Future[CompletedRun] = Future()
        with self._cond:
            if self._closed:
                raise SchedulerClosed(f"the scheduler of model {self.session.cid} is closed")
            depth = self._depth
            now = time.perf_counter_ns()
            self._queues[priority].append(
                _Pending(
                    tensors, rows, key, priority, units, nbytes, depth, now, future, budget_micros
                )
            )
            self._depth = depth + 1
            before = self._rows
            self._rows = before + rows
            # Wake the batcher only when it has a decision to make: the first request (it sleeps
            # without a timeout) or the one that fills a batch (it sleeps until the delay).
            if depth == 0 or before < self._max_rows <= before + rows:
                self._cond.notify()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            abandoned = [p for q in self._queues for p in q]
            for q in self._queues:
                q.clear()
            self._depth = self._rows = 0
            self._cond.notify_all()
        for pending in abandoned:
            _fail(pending.future, SchedulerClosed("the scheduler closed before the request ran"))
        if self._batcher.is_alive():
            self._batcher.join()
            self._done.put(None)
            self._completer.join()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while self._depth == 0 and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                oldest = min(q[0].admitted_ns for q in self._queues if q)
                deadline = oldest + self._delay_ns
                while self._rows < self._max_rows and not self._closed:
                    remaining = deadline - time.perf_counter_ns()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining / 1e9)
                if self._closed:
                    return
                batch, expired = self._take()
            for pending in expired:
                waited = (time.perf_counter_ns() - pending.admitted_ns) / 1e6
                limit = self._policy.tier_timeouts_s[pending.priority]
                _fail(
                    pending.future,
                    QueueTimeout(
                        f"request for model {self.session.cid} waited {waited:.1f} ms in the"
                        f" tier {pending.priority} queue, past its {limit:g} s timeout"
                    ),
                )
            if batch:
                self._run(batch)

    def _take(self) -> tuple[list[_Pending], list[_Pending]]:
        """Under the lock: drop expired requests, then take a batch, highest tier first."""
        now = time.perf_counter_ns()
        expired: list[_Pending] = []
        for tier in range(TIERS):
            q, limit = self._queues[tier], self._timeouts_ns[tier]
            # Each tier's queue is in admission order, so expired requests are at its head.
            while q and now - q[0].admitted_ns > limit:
                expired.append(q.popleft())
        batch: list[_Pending] = []
        rows, key, full = 0, None, False
        for tier in range(TIERS - 1, -1, -1):
            q = self._queues[tier]
            while q:
                head = q[0]
                if batch and (rows + head.rows > self._max_rows or head.key != key):
                    full = True
                    break
                q.popleft()
                # A cancelled request is dropped here, before it runs or is metered.
                if head.future.set_running_or_notify_cancel():
                    if not batch:
                        key = head.key
                    batch.append(head)
                    rows += head.rows
                else:
                    self._rows -= head.rows
                    self._depth -= 1
            if full:
                break
        self._depth -= len(batch) + len(expired)
        self._rows -= rows + sum(p.rows for p in expired)
        return batch, expired

    def _run(self, batch: list[_Pending]) -> None:
        batch_id = next(self._batch_ids)
        # A batch may take the time all its requests were quoted for, together.
        budgets = [p.budget_micros for p in batch]
        budget = None if None in budgets else sum(b for b in budgets if b is not None)
        try:
            ran = self.session.run_batch(
                [p.tensors for p in batch], [p.rows for p in batch], budget
            )
        except ExecutorError as exc:
            for pending in batch:
                _fail(pending.future, exc)
            return
        except Exception as exc:  # a bug must fail its batch, not kill the model's batcher
            log.exception("batch %d of model %s failed", batch_id, self.session.cid)
            for pending in batch:
                _fail(pending.future, RunFailed(f"batch {batch_id} failed: {exc!r}"))
            return
        self._done.put((batch_id, batch, ran))

    def _complete(self) -> None:
        cid, provider = self.session.cid, self.session.provider
        while (item := self._done.get()) is not None:
            batch_id, batch, ran = item
            try:
                sizes = [self._output_bytes(outputs) for outputs in ran.outputs]
                metered = meter_batch(
                    batch_id, ran.run_micros, batch, sizes, time.perf_counter_ns()
                )
                for pending, outputs, (meter, share) in zip(
                    batch, ran.outputs, metered, strict=True
                ):
                    pending.future.set_result(
                        CompletedRun(cid, pending.priority, provider, outputs, meter, share)
                    )
                if self._on_batch is not None:  # after the futures: callers never wait on it
                    self._on_batch(cid, ran.run_micros, [meter.gpu_micros for meter, _ in metered])
            except Exception as exc:  # a failing size hook fails its batch, not this thread
                log.exception("completing batch %d of model %s failed", batch_id, cid)
                for pending in batch:
                    if not pending.future.done():
                        _fail(pending.future, RunFailed(f"batch {batch_id}: {exc!r}"))
