"""Executions after admission: what a completed one records, where one stands, who keeps it.

A ``Completed`` execution is what the executor writes once a request has run: the request and
signature, the input and output assets, the meter it charges (the measured meter clamped to
its admission bound) and the measured one, the quote and the cost of the charged meter, and
the batch it ran in. An ``ExecutionSink`` keeps completed executions durably and answers for
their fate on chain: the Postgres outbox (``outbox_sink``) or, without a database, memory.
The ``ExecutionBook`` knows the executions of this process that no sink holds yet.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from artisan.domain.types import InferenceRequest, Meter, RejectReason
from artisan.executor.measure import BatchShare
from artisan.executor.reservations import Hold


class Status(StrEnum):
    """Where an execution stands, as ``GET /v1/executions/{id}`` reports it."""

    QUEUED = "queued"  # admitted, waiting for or in its batch
    RAN = "ran"  # completed and recorded; not yet in a transaction
    EMITTED = "emitted"  # in a recordBatch transaction, not yet final
    CONFIRMED = "confirmed"  # InferenceExecuted is final: charged once
    REJECTED = "rejected"  # the ledger rejected it (reason set): not charged
    FAILED = "failed"  # it did not run (reason says why): nothing recorded, nothing charged


FINAL = frozenset({Status.CONFIRMED, Status.REJECTED, Status.FAILED})


@dataclass(frozen=True, slots=True)
class Completed:
    """A request that ran, as it is recorded before anything is sent on chain."""

    execution_id: bytes
    request: InferenceRequest
    signature: bytes
    model_cid: str
    input_cid: str
    output_cid: str
    output_digest: bytes
    meter: Meter  # charged: measured, clamped to the bound the quote was made on
    measured: Meter
    bound: Meter
    quote: int
    cost: int  # the metering rule on ``meter`` at admission's prices and rates
    rates_version: int
    batch: BatchShare
    provider: str


@dataclass(frozen=True, slots=True)
class StatusView:
    """One execution's status and what is known of it so far."""

    execution_id: bytes
    status: Status
    reason: str | None = None  # RejectReason name, or why it failed
    output_cid: str | None = None
    quote: int | None = None
    cost: int | None = None  # expected before confirmation, charged after
    tx_hash: str | None = None
    block_number: int | None = None


def reject_name(reason: RejectReason | None) -> str | None:
    return None if reason is None else reason.name


class ExecutionSink(Protocol):
    """Where completed executions are kept, durably, until the chain has settled them."""

    def record(self, executions: Sequence[Completed]) -> None:
        """Keep these executions, all or none (one transaction)."""

    def status(self, execution_id: bytes) -> StatusView | None:
        """An execution's status, or None if the sink never saw it."""

    def settled(self, execution_ids: Sequence[bytes]) -> list[bytes]:
        """Which of these executions the chain has confirmed or rejected."""

    def unsettled(self) -> list[Hold]:
        """The holds of executions recorded and not yet settled (a restarted executor takes
        them back, so escrow already promised is not promised again)."""

    def close(self) -> None: ...


class MemorySink:
    """Completed executions kept in this process only: nothing is emitted, nothing settles.

    For tests, the demo's first stage and a database-less ``serve``; the ``capacity`` most
    recent executions are kept.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._records: OrderedDict[bytes, Completed] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, executions: Sequence[Completed]) -> None:
        with self._lock:
            for ex in executions:
                self._records[ex.execution_id] = ex
            while len(self._records) > self._capacity:
                self._records.popitem(last=False)

    def get(self, execution_id: bytes) -> Completed | None:
        with self._lock:
            return self._records.get(execution_id)

    def status(self, execution_id: bytes) -> StatusView | None:
        ex = self.get(execution_id)
        if ex is None:
            return None
        return StatusView(
            ex.execution_id, Status.RAN, output_cid=ex.output_cid, quote=ex.quote, cost=ex.cost
        )

    def settled(self, execution_ids: Sequence[bytes]) -> list[bytes]:
        return []

    def unsettled(self) -> list[Hold]:
        return []  # a new process has an empty memory

    def close(self) -> None:
        pass


class ExecutionBook:
    """This process's executions that are queued, or failed, and so in no sink.

    Failed entries are kept (the ``capacity`` most recent) so a client polling after a failure
    learns why; a queued entry leaves once its execution is recorded.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._views: OrderedDict[bytes, StatusView] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, view: StatusView) -> None:
        with self._lock:
            self._views[view.execution_id] = view
            self._views.move_to_end(view.execution_id)
            while len(self._views) > self._capacity:
                self._views.popitem(last=False)

    def drop(self, execution_id: bytes) -> None:
        with self._lock:
            self._views.pop(execution_id, None)

    def get(self, execution_id: bytes) -> StatusView | None:
        with self._lock:
            return self._views.get(execution_id)
