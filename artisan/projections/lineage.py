"""Read model ``lineage``: the edges an auditor walks from an output back to its origins.

Nodes are ``asset`` (a 0x digest), ``execution`` (its 0x id), ``model`` (a decimal id) and
``account``. Edges, each made by one event and placed at its (block, log index):

- ``input``  asset -> execution and ``output`` execution -> asset, ``model`` model -> execution
  (from ``InferenceExecuted``);
- ``feeds``  execution -> execution when an execution's input is the output of an earlier one:
  the first execution in chain order that produced it (deterministic models produce the same
  digest many times; the first is the asset's origin);
- ``remix``  parent model -> model (``ModelRegistered`` with a parent);
- ``cite``   curator account -> asset or model (``Signaled`` of kind CITE).

Every edge is derivable from rows the other projections keep, so Postgres serves them as a
view instead of storing them twice; ``MemoryLineage`` builds the same edges event by event,
independently, for ``verify``.
"""

from __future__ import annotations

from collections.abc import Iterable

from artisan.domain.events import InferenceExecuted, ModelRegistered, Signaled
from artisan.domain.types import SignalKind, TargetKind
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec

COLUMNS = ("block_number", "log_index", "relation", "src_kind", "src", "dst_kind", "dst", "tx_hash")


class LineageView:
    """Lineage edges: a view over the ``executions``, ``models`` and ``curation`` tables
    (``lineage_edges`` in schema.sql), so it has no rows or position of its own; it is read,
    digested and verified like the projections it derives from."""

    name = "lineage"
    events = ("InferenceExecuted", "ModelRegistered", "Signaled")
    tables = (TableSpec("lineage_edges", COLUMNS, (0, 1, 2)),)

    def memory(self) -> MemoryLineage:
        return MemoryLineage()


def target_node(target_kind: int, target: str) -> tuple[str, str]:
    """The lineage node of a curation target: a model by decimal id, or an asset digest."""
    if TargetKind(target_kind) is TargetKind.MODEL:
        return "model", str(int(target, 16))
    return "asset", target


class MemoryLineage:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.edges: list[Row] = []
        self._producer: dict[str, str] = {}

    def _edge(self, e: Event, relation: str, src: tuple[str, str], dst: tuple[str, str]) -> None:
        self.edges.append((e.block_number, e.log_index, relation, *src, *dst, e.tx_hash))

    def apply(self, event: Event) -> None:
        if event.name == "InferenceExecuted":
            x = args_as(event, InferenceExecuted)
            execution = ("execution", x["executionId"])
            self._edge(event, "input", ("asset", x["inputDigest"]), execution)
            self._edge(event, "output", execution, ("asset", x["outputDigest"]))
            self._edge(event, "model", ("model", str(int(x["modelId"]))), execution)
            producer = self._producer.get(x["inputDigest"])
            if producer is not None:
                self._edge(event, "feeds", ("execution", producer), execution)
            self._producer.setdefault(x["outputDigest"], x["executionId"])
        elif event.name == "ModelRegistered":
            m = args_as(event, ModelRegistered)
            if int(m["parentId"]) != 0:
                parent = ("model", str(int(m["parentId"])))
                self._edge(event, "remix", parent, ("model", str(int(m["modelId"]))))
        elif event.name == "Signaled":
            s = args_as(event, Signaled)
            if SignalKind(int(s["kind"])) is SignalKind.CITE:
                target = target_node(int(s["targetKind"]), s["target"])
                self._edge(event, "cite", ("account", s["curator"]), target)

    def rows(self, table: str) -> Iterable[Row]:
        return self.edges
