"""Prometheus metrics of the API: latency per operation and per root field, subscriptions.

``ApiMetrics`` keeps the API process's registry (``artisan.metrics``), served on the app's
own ``/metrics``. ``timer`` is a schema extension that times each query from parsing to its
answer and labels the time with the operation's name and type, and again with each root
field it asked for (the fields resolve concurrently, so a root field's own share of the time
is not separable; a field's histogram says how long the operations that asked for it took).
Subscriptions are counted while open, per root field (``live.py``), not timed.

Operation names are the client's to choose: the first ``MAX_OPERATION_NAMES`` distinct names
get a label of their own, later ones share ``other``, so a client cannot grow the registry
without bound. Root fields are the schema's, and only counted once a query has validated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from artisan.metrics import process_registry

NS = "artisan_api"
MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER = "other"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """The metrics of one API app, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or process_registry()
        self.operation_seconds = Histogram(
            "operation_seconds", "Time to answer one GraphQL query, by operation name and type",
            ["operation", "type"], buckets=BUCKETS, namespace=NS, registry=r,
        )  # fmt: skip
        self.root_field_seconds = Histogram(
            "root_field_seconds", "Time to answer the queries that asked for a root field",
            ["field"], buckets=BUCKETS, namespace=NS, registry=r,
        )  # fmt: skip
        self.operation_errors = Counter(
            "operation_errors", "Queries answered with errors (refused or failed)", ["operation"],
            namespace=NS, registry=r,
        )  # fmt: skip
        self.subscriptions = Gauge("subscriptions", "Subscriptions open, by root field",
                                   ["field"], namespace=NS, registry=r)  # fmt: skip
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def timer(self) -> type[SchemaExtension]:
        """The schema extension that reports each operation here."""
        metrics = self

        class OperationTimer(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                started = time.perf_counter()
                yield
                metrics.observe(self.execution_context, time.perf_counter() - started)

        return OperationTimer

    def observe(self, context: ExecutionContext, seconds: float) -> None:
        """One operation answered in ``seconds`` (a subscription is not timed: it lasts)."""
        operation = _operation(context)
        kind = "invalid" if operation is None else operation.operation.value
        if kind == OperationType.SUBSCRIPTION.value:
            return
        name = self.label(context.operation_name)
        self.operation_seconds.labels(name, kind).observe(seconds)
        result = context.result
        failed = bool(context.pre_execution_errors) or bool(result is not None and result.errors)
        if failed:
            self.operation_errors.labels(name).inc()
        if operation is not None and not context.pre_execution_errors:
            for field in {s.name.value for s in operation.selection_set.selections
                          if isinstance(s, FieldNode)}:  # fmt: skip
                self.root_field_seconds.labels(field).observe(seconds)

    def open_subscription(self, field: str) -> None:
        self.subscriptions.labels(field).inc()

    def close_subscription(self, field: str) -> None:
        self.subscriptions.labels(field).dec()

    def details(self) -> dict[str, object]:
        """The heartbeat's figures."""
        totals = {"operations": 0.0, "operation_errors": 0.0, "subscriptions": 0.0}
        for metric, key, suffix in ((self.operation_seconds, "operations", "_count"),
                                    (self.operation_errors, "operation_errors", "_total"),
                                    (self.subscriptions, "subscriptions", "")):  # fmt: skip
            for family in metric.collect():
                for sample in family.samples:
                    if sample.name == family.name + suffix:
                        totals[key] += sample.value
        return {key: int(value) for key, value in totals.items()}

    def label(self, name: str | None) -> str:
        """The label of an operation name: its own while fewer than the limit were seen."""
        if not name:
            return ANONYMOUS
        name = name[:64]
        with self._lock:
            if name in self._names:
                return name
            if len(self._names) < MAX_OPERATION_NAMES:
                self._names.add(name)
                return name
        return OTHER


def _operation(context: ExecutionContext) -> OperationDefinitionNode | None:
    """The operation the request runs (by its name when it gave one), if the query parsed."""
    document = context.graphql_document
    if document is None:
        return None
    wanted = context.operation_name
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            wanted is None or (definition.name is not None and definition.name.value == wanted)
        ):
            return definition
    return None
