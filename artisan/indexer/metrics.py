"""Prometheus metrics of an indexer: head lag, events, reorgs and RPC errors.

Each ``IndexerMetrics`` registers into the process's registry (``artisan.metrics``; a new one
by default, so two indexers or two tests never share counters). It observes the indexer
through ``on_progress`` and the node through ``MeteredSource``, a ChainSource wrapper; events
per second is ``rate(artisan_indexer_events_total[1m])`` on the Prometheus side. ``details``
is the same figures for the indexer's heartbeat (``artisan status``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from artisan.errors import ChainError
from artisan.indexer.indexer import Progress
from artisan.indexer.source import ChainSource, RawLog
from artisan.metrics import process_registry
from artisan.storage.chain_records import BlockHeader

T = TypeVar("T")


class IndexerMetrics:
    """The metrics of one chain's indexer, in a registry of their own."""

    def __init__(self, chain_id: int, registry: CollectorRegistry | None = None) -> None:
        self.chain_id = chain_id
        self.registry = registry or process_registry()
        self.phase = "backfill"
        self.last_error: str | None = None  # the newest failed node call, as a line
        ns, r = "artisan_indexer", self.registry
        self.head = Gauge("head_block", "Newest block of the node", namespace=ns, registry=r)
        self.indexed = Gauge("indexed_block", "Last block indexed", namespace=ns, registry=r)
        self.lag = Gauge("head_lag_blocks", "Blocks behind the head", namespace=ns, registry=r)
        self.events = Counter("events", "Events appended", namespace=ns, registry=r)
        self.reorgs = Counter("reorgs", "Reorganizations followed", namespace=ns, registry=r)
        self.reorg_depth = Histogram(
            "reorg_depth_blocks",
            "Depth of reorganizations followed",
            buckets=(1, 2, 3, 5, 10, 20, 64, 128),
            namespace=ns,
            registry=r,
        )
        self.rpc_errors = Counter(
            "rpc_errors", "Failed node calls", ["method", "error"], namespace=ns, registry=r
        )
        self.rpc_seconds = Histogram(
            "rpc_seconds", "Node call latency", ["method"], namespace=ns, registry=r
        )

    def on_progress(self, progress: Progress) -> None:
        """Pass as the indexer's ``on_progress``."""
        self.head.set(progress.head)
        self.indexed.set(progress.checkpoint.number)
        self.lag.set(max(0, progress.head - progress.checkpoint.number))
        self.events.inc(progress.events)
        if progress.reorg is not None:
            self.reorgs.inc()
            self.reorg_depth.observe(progress.reorg.depth)

    def details(self) -> dict[str, object]:
        """The heartbeat's figures: where the indexer and the node are."""
        value = self.registry.get_sample_value
        return {
            "chain_id": self.chain_id,
            "phase": self.phase,
            "indexed_block": int(value("artisan_indexer_indexed_block") or 0),
            "node_head": int(value("artisan_indexer_head_block") or 0),
            "head_lag_blocks": int(value("artisan_indexer_head_lag_blocks") or 0),
            "events": int(value("artisan_indexer_events_total") or 0),
            "reorgs": int(value("artisan_indexer_reorgs_total") or 0),
        }

    def serve(self, port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
        """Serve ``/metrics`` over HTTP on a daemon thread; ``server.shutdown()`` stops it."""
        return start_http_server(port, addr=addr, registry=self.registry)


class MeteredSource:
    """A ChainSource that counts its inner source's failures and times its calls."""

    def __init__(self, inner: ChainSource, metrics: IndexerMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def _call(self, method: str, call: Callable[[], T]) -> T:
        with self.metrics.rpc_seconds.labels(method).time():
            try:
                return call()
            except ChainError as exc:
                self.metrics.rpc_errors.labels(method, type(exc).__name__).inc()
                self.metrics.last_error = f"{method}: {type(exc).__name__}: {exc}"
                raise

    def head_number(self) -> int:
        return self._call("head_number", self.inner.head_number)

    def headers(self, numbers: Sequence[int]) -> list[BlockHeader | None]:
        return self._call("headers", lambda: self.inner.headers(numbers))

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str]) -> list[RawLog]:
        return self._call("logs", lambda: self.inner.logs(from_block, to_block, addresses))

    def block_logs(
        self, block_hashes: Sequence[str], addresses: Sequence[str]
    ) -> list[list[RawLog]]:
        return self._call("block_logs", lambda: self.inner.block_logs(block_hashes, addresses))

    def transactions(self, hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        return self._call("transactions", lambda: self.inner.transactions(hashes))

    def close(self) -> None:
        self.inner.close()
