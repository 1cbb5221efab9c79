"""Projection ``lineage``: the edges an auditor walks from an output back to its origins, and
on from an input to everything made from it.

Nodes are ``asset`` (a 0x digest), ``execution`` (its 0x id), ``model`` (a decimal id) and
``account``. Edges, each made by one event and placed at its (block, log index):

- ``input``  asset -> execution and ``output`` execution -> asset, ``model`` model -> execution
  (from ``InferenceExecuted``);
- ``feeds``  execution -> execution when an execution's input is the output of an earlier one:
  the first execution in chain order that produced it (deterministic models produce the same
  digest many times; the first is the asset's origin);
- ``remix``  parent model -> model (``ModelRegistered`` with a parent);
- ``cite``   curator account -> asset or model (``Signaled`` of kind CITE).

The edges are stored (``proj_lineage_edges``), one row each with real columns, indexed by
source and by destination, so that a walk either way is an index lookup per step
(``lineage_queries``). Set-based like the executions: each statement reads its batch of events
straight from ``live_events``; a ``feeds`` edge finds the first producer of an input among the
``output`` edges already stored, this batch's included, through an index of the output edges
alone. ``MemoryLineage`` builds the same edges event by event, independently, for ``verify``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from artisan.domain.events import InferenceExecuted, ModelRegistered, Signaled
from artisan.domain.types import SignalKind, TargetKind
from artisan.projections import history
from artisan.projections.events import Event, args_as
from artisan.projections.tables import Row, TableSpec

COLUMNS = ("block_number", "log_index", "relation", "src_kind", "src", "dst_kind", "dst", "tx_hash")
TABLE = "proj_lineage_edges"

_RANGE = "e.chain_id = %(chain)s AND e.position > %(after)s AND e.position <= %(upto)s"
_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)})"

# input, output and model edges of every execution of the batch.
_EXECUTED = f"""{_INSERT}
SELECT e.block_number, e.log_index, v.relation, v.src_kind, v.src, v.dst_kind, v.dst, e.tx_hash
FROM live_events e
CROSS JOIN LATERAL (VALUES
    ('input', 'asset', e.args->>'inputDigest', 'execution', e.args->>'executionId'),
    ('output', 'execution', e.args->>'executionId', 'asset', e.args->>'outputDigest'),
    ('model', 'model', e.args->>'modelId', 'execution', e.args->>'executionId')
) AS v (relation, src_kind, src, dst_kind, dst)
WHERE e.event_name = 'InferenceExecuted' AND {_RANGE}
"""

# feeds: the first earlier execution (chain order) whose output is this execution's input.
_FEEDS = f"""{_INSERT}
SELECT e.block_number, e.log_index, 'feeds', 'execution', p.src, 'execution',
    e.args->>'executionId', e.tx_hash
FROM live_events e
CROSS JOIN LATERAL (
    SELECT o.src FROM {TABLE} o
    WHERE o.dst = e.args->>'inputDigest' AND o.relation = 'output'
      AND (o.block_number, o.log_index) < (e.block_number, e.log_index)
    ORDER BY o.dst, o.block_number, o.log_index
    LIMIT 1
) p
WHERE e.event_name = 'InferenceExecuted' AND {_RANGE}
"""

_REMIX = f"""{_INSERT}
SELECT e.block_number, e.log_index, 'remix', 'model', e.args->>'parentId', 'model',
    e.args->>'modelId', e.tx_hash
FROM live_events e
WHERE e.event_name = 'ModelRegistered' AND (e.args->>'parentId')::numeric <> 0 AND {_RANGE}
"""

# cite: a curator's CITE signal on a model (its id, decimal: the target's low 8 bytes) or an
# asset (its digest).
_CITE = f"""{_INSERT}
SELECT e.block_number, e.log_index, 'cite', 'account', e.args->>'curator',
    CASE WHEN (e.args->>'targetKind')::int = 0 THEN 'model' ELSE 'asset' END,
    CASE WHEN (e.args->>'targetKind')::int = 0
         THEN (('x' || right(e.args->>'target', 16))::bit(64)::bigint)::text
         ELSE e.args->>'target' END,
    e.tx_hash
FROM live_events e
WHERE e.event_name = 'Signaled' AND (e.args->>'kind')::int = 3 AND {_RANGE}
"""


class LineageProjection:
    """The lineage edges, one row each, indexed both ways."""

    name = "lineage"
    events = ("InferenceExecuted", "ModelRegistered", "Signaled")
    tables = (TableSpec(TABLE, COLUMNS, (0, 1, 2)),)
    # A feeds edge looks its producer up among the output edges (proj_lineage_edges_producers,
    # a third of the destination index's entries): that index stays while replaying. The
    # primary key only guards the appends (one edge per event and relation) and serves
    # reverts: a replay from the first event makes it at the end, which checks every edge at
    # once.
    reader_indexes = ("proj_lineage_edges_src", "proj_lineage_edges_dst", "proj_lineage_edges_pkey")

    def apply(self, conn: psycopg.Connection[Any], chain_id: int, after: int, upto: int) -> None:
        params = {"chain": chain_id, "after": after, "upto": upto}
        # Outputs first: a feeds edge of this batch may find its producer in the same batch.
        for statement in (_EXECUTED, _FEEDS, _REMIX, _CITE):
            conn.execute(statement, params)

    def revert(self, conn: psycopg.Connection[Any], ancestor: int) -> None:
        history.revert_appended(conn, TABLE, ancestor)

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
