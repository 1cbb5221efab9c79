"""Prometheus metrics of an emitter: the outbox's backlog, batches, confirmations, node failures.

``EmitterMetrics`` registers into the process's registry (``artisan.metrics``; the executor's,
when ``executor serve`` runs the emitter on a thread). The emitter counts what it does as it
does it (a batch sent, final, lost, replaced; each execution's outcome); the backlog is read
from the outbox by ``measure``, on the heartbeat's connection every few seconds, never by the
emitter's pass. ``measure`` returns the same figures for the heartbeat (``artisan status``).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from artisan.emitter.batches import EmitterKey, backlog
from artisan.metrics import process_registry

NS = "artisan_emitter"
SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 200, 300, 500)


class EmitterMetrics:
    """The metrics of one emitter, in the process's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or process_registry()
        self.backlog = Gauge(
            "outbox_backlog", "Executions in the outbox not yet final: pending (no batch yet)"
            " or broadcast (in a batch not yet final)", ["status"], namespace=NS, registry=r,
        )  # fmt: skip
        self.oldest_pending = Gauge(
            "outbox_oldest_pending_seconds", "How long the oldest pending execution has waited",
            namespace=NS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("batches_in_flight", "Batches sent and not yet mined",
                               namespace=NS, registry=r)  # fmt: skip
        self.batches = Counter(
            "batches", "recordBatch transactions: sent, final, lost (nonce taken), reverted,"
            " replaced (fee bump), rebroadcast", ["event"], namespace=NS, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram("batch_size", "Executions per recordBatch sent",
                                    buckets=SIZE_BUCKETS, namespace=NS, registry=r)  # fmt: skip
        self.executions = Counter(
            "executions", "Executions final on chain, by outcome: confirmed (executed and"
            " charged) or rejected (by the ledger)", ["outcome"], namespace=NS, registry=r,
        )  # fmt: skip
        self.node_failures = Counter(
            "node_failures", "Passes that failed on the node (retried with backoff)", ["error"],
            namespace=NS, registry=r,
        )  # fmt: skip
        self.last_pass = Gauge(
            "last_pass_timestamp_seconds", "When the emitter's last pass ended (Unix time),"
            " whether it moved anything or not: a value that stops advancing is an emitter"
            " thread that hangs", namespace=NS, registry=r,
        )  # fmt: skip
        self.last_error: str | None = None
        self._last_pass: float | None = None  # monotonic

    def passed(self) -> None:
        """A pass ended (whatever it did)."""
        self._last_pass = time.monotonic()
        self.last_pass.set(time.time())

    def sent(self, size: int) -> None:
        self.batches.labels("sent").inc()
        self.batch_size.observe(size)

    def final(self, confirmed: int, rejected: int) -> None:
        self.batches.labels("final").inc()
        self.executions.labels("confirmed").inc(confirmed)
        self.executions.labels("rejected").inc(rejected)

    def node_failed(self, exc: Exception) -> None:
        self.node_failures.labels(type(exc).__name__).inc()
        self.last_error = f"{type(exc).__name__}: {exc}"

    def measure(self, conn: psycopg.Connection[Any], key: EmitterKey) -> dict[str, object]:
        """Read the backlog of ``key`` into the gauges; the heartbeat's figures."""
        found = backlog(conn, key)
        self.backlog.labels("pending").set(found.pending)
        self.backlog.labels("broadcast").set(found.broadcast)
        self.oldest_pending.set(found.oldest_pending_s)
        value = self.registry.get_sample_value
        return {
            "chain_id": key.chain_id,
            "operator": key.operator,
            "outbox_backlog": found.pending + found.broadcast,
            "pending": found.pending,
            "broadcast": found.broadcast,
            "oldest_pending_s": round(found.oldest_pending_s, 3),
            "batches_in_flight": int(value(f"{NS}_batches_in_flight") or 0),
            "confirmed": int(value(f"{NS}_executions_total", {"outcome": "confirmed"}) or 0),
            "rejected": int(value(f"{NS}_executions_total", {"outcome": "rejected"}) or 0),
            # The heartbeat beats on a thread of its own: this is what tells a hung emitter.
            "last_pass_s": None if self._last_pass is None
            else round(time.monotonic() - self._last_pass, 1),
        }  # fmt: skip
