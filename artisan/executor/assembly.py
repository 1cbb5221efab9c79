"""The executor's parts wired together: one function shared by the CLI, tests, demo, benchmark.

With a database the completed executions go to the Postgres outbox (for the emitter to put on
chain); without one they stay in memory (nothing is ever emitted or charged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from artisan.chain.ledger_reads import LedgerViews
from artisan.chain.protocol import Protocol
from artisan.executor.admission import Admission, AdmissionPolicy
from artisan.executor.assets import AssetStore
from artisan.executor.batcher import BatchPolicy
from artisan.executor.catalog import ChainReader, ModelCatalog
from artisan.executor.engine import ExecutorService
from artisan.executor.estimate import EstimatePolicy, MeterEstimator
from artisan.executor.metrics import ExecutorMetrics
from artisan.executor.pg_sink import OutboxSink
from artisan.executor.provider_probe import row_sum
from artisan.executor.recorder import GroupRecorder
from artisan.executor.records import ExecutionSink, MemorySink
from artisan.executor.reservations import Reservations
from artisan.executor.scheduler import Scheduler
from artisan.executor.sessions import SessionCache, SessionConfig
from artisan.executor.signatures import RequestVerifier
from artisan.storage.database import Database


@dataclass(frozen=True)
class ExecutorConfig:
    """Every tunable of one executor process."""

    batch: BatchPolicy = field(default_factory=BatchPolicy)
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    estimate: EstimatePolicy = field(default_factory=EstimatePolicy)
    sessions: SessionConfig = field(default_factory=SessionConfig)
    catalog_ttl_s: float = 30.0


@contextlib.contextmanager
def open_executor(
    protocol: Protocol,
    rpc_url: str,
    store: AssetStore,
    *,
    operator: str,
    db: Database | None = None,
    config: ExecutorConfig | None = None,
    chain: ChainReader | None = None,
    metrics: ExecutorMetrics | None = None,
) -> Iterator[ExecutorService]:
    """A running executor for ``protocol``; closed (queue drained, records written) on exit.

    ``operator`` is the address whose key will emit the executions; ``chain`` replaces the
    JSON-RPC reader (tests and benchmarks may wrap it); ``metrics`` hears of every batch and
    reads the queues.
    """
    cfg = config or ExecutorConfig()
    d = protocol.deployment
    # Closed in reverse: the scheduler first (queued requests fail, running batches finish),
    # then the service (the recorder: everything that ran is recorded), then the sink
    # and the chain reader. A part that fails to open closes the parts opened before it.
    with contextlib.ExitStack() as stack:
        views = LedgerViews(protocol, rpc_url)
        stack.callback(views.close)
        sink: ExecutionSink = (
            MemorySink()
            if db is None
            else OutboxSink(db, chain_id=d.chain_id, ledger=d.ledger, operator=operator)
        )
        stack.callback(sink.close)
        sessions = SessionCache(store, cfg.sessions)
        # Load a tiny model now: the provider in use is known (and logged) before any request,
        # and a CUDA that fails to load fails here, once, rather than on a user's request.
        provider = sessions.get(store.put(row_sum()).cid).provider
        scheduler = Scheduler(
            sessions, cfg.batch, on_batch=None if metrics is None else metrics.on_batch
        )
        if metrics is not None:
            metrics.watch(scheduler, provider)
        reservations = Reservations()
        for hold in sink.unsettled():  # recorded before a restart, not yet settled on chain
            reservations.hold(hold)
        admission = Admission(
            ModelCatalog(chain or views, ttl_s=cfg.catalog_ttl_s),
            RequestVerifier(d.chain_id, d.ledger),
            store,
            sessions,
            scheduler,
            MeterEstimator(
                cfg.estimate,
                max_queue_delay_s=cfg.batch.max_queue_delay_s,
                max_batch_rows=cfg.batch.max_batch_size,
            ),
            reservations,
            cfg.admission,
        )
        service = ExecutorService(admission, GroupRecorder(sink, store), provider=provider)
        stack.callback(service.close)
        stack.callback(scheduler.close)
        yield service
