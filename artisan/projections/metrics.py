"""Prometheus metrics of the projection service: each projection's lag, its steps, publishing.

``ProjectionMetrics`` registers into the process's registry (``artisan.metrics``). Lags (in
event-store positions and in blocks behind the indexer's checkpoint, ``positions.lags``) are
read by ``measure`` on the heartbeat's connection every few seconds, never by the runner;
each projection's steps and the time they took are read from the runner's own tally
(``Runner.costs``) when Prometheus scrapes; the service times its catch-ups and counts failed
publications. ``measure`` returns the same figures for the heartbeat (``artisan status``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from artisan.metrics import process_registry
from artisan.projections import positions
from artisan.projections.rewards.publications import progress
from artisan.projections.runner import Runner

NS = "artisan_projections"


class _Steps(Collector):
    """Each projection's steps and their wall time so far, from the runner's tally."""

    def __init__(self) -> None:
        self.runner: Runner | None = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        steps = CounterMetricFamily(
            f"{NS}_steps", "Steps (transactions) run", labels=["projection"]
        )
        seconds = CounterMetricFamily(
            f"{NS}_step_seconds", "Wall time spent in steps", labels=["projection"]
        )
        if self.runner is not None:
            for name, cost in list(self.runner.costs.items()):
                steps.add_metric([name], cost.steps)
                seconds.add_metric([name], cost.seconds)
        yield steps
        yield seconds


class ProjectionMetrics:
    """The metrics of one projection service, in the process's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or process_registry()
        self.position = Gauge("position", "Event-store position applied", ["projection"],
                              namespace=NS, registry=r)  # fmt: skip
        self.head = Gauge("store_head_position", "Newest event-store position of the chain",
                          namespace=NS, registry=r)  # fmt: skip
        self.lag_events = Gauge(
            "lag_events", "Event-store positions above the projection's", ["projection"],
            namespace=NS, registry=r,
        )  # fmt: skip
        self.lag_blocks = Gauge(
            "lag_blocks", "Blocks the projection trails the indexer's checkpoint by",
            ["projection"], namespace=NS, registry=r,
        )  # fmt: skip
        self.catch_up_seconds = Histogram(
            "catch_up_seconds", "Time of one catch-up (every projection to the head)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
            namespace=NS, registry=r,
        )  # fmt: skip
        self.publish_failures = Counter(
            "publish_failures", "Reward publication steps that failed (retried at each run)",
            namespace=NS, registry=r,
        )  # fmt: skip
        self._steps = _Steps()
        r.register(self._steps)

    def watch(self, runner: Runner) -> None:
        """Report ``runner``'s steps."""
        self._steps.runner = runner

    def measure(self, conn: psycopg.Connection[Any], runner: Runner) -> dict[str, object]:
        """Read every projection's lag into the gauges; the heartbeat's figures."""
        found = positions.lags(conn, runner.chain_id, [p.name for p in runner.projections])
        lags: dict[str, object] = {}
        for lag in found:
            self.position.labels(lag.name).set(lag.position)
            self.lag_events.labels(lag.name).set(lag.events_behind)
            if lag.blocks_behind is not None:
                self.lag_blocks.labels(lag.name).set(lag.blocks_behind)
            lags[lag.name] = {"position": lag.position, "events_behind": lag.events_behind,
                              "blocks_behind": lag.blocks_behind}  # fmt: skip
        head = found[0].head_position if found else 0
        self.head.set(head)
        blocks = [lag.blocks_behind for lag in found if lag.blocks_behind is not None]
        return {
            "chain_id": runner.chain_id,
            "head_position": head,
            "max_events_behind": max((lag.events_behind for lag in found), default=0),
            "max_blocks_behind": max(blocks) if blocks else None,
            "projections": lags,
        }


def publisher_details(conn: psycopg.Connection[Any], error: str | None) -> dict[str, object]:
    """The reward publisher's heartbeat figures: epochs closed, published, waiting."""
    found = progress(conn)
    return {"last_closed_epoch": found.last_closed, "last_published_epoch": found.last_published,
            "unpublished_epochs": found.unpublished, "publish_error": error}  # fmt: skip
