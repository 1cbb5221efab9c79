"""Walking lineage: what an auditor asks of ``lineage_edges``.

``upstream`` follows edges backwards from a node (an output asset, an execution, a model):
to the execution that produced an asset, that execution's input, model and feeding
execution, the producers of that input, a model's remix ancestors, and citations on the
way. It only steps to edges made at or before the edge it arrived by (an input cannot have
been produced later than it was used), and stops when nothing new is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class Edge:
    """One lineage edge with the event that made it."""

    relation: str
    src_kind: str
    src: str
    dst_kind: str
    dst: str
    block_number: int
    log_index: int
    tx_hash: str


_UPSTREAM = """
WITH RECURSIVE walk AS (
    SELECT e.relation, e.src_kind, e.src, e.dst_kind, e.dst, e.block_number, e.log_index,
        e.tx_hash
    FROM lineage_edges e
    WHERE e.dst = %(node)s
    UNION
    SELECT e.relation, e.src_kind, e.src, e.dst_kind, e.dst, e.block_number, e.log_index,
        e.tx_hash
    FROM walk w
    JOIN lineage_edges e ON e.dst = w.src
        AND (e.block_number, e.log_index) <= (w.block_number, w.log_index)
)
SELECT relation, src_kind, src, dst_kind, dst, block_number, log_index, tx_hash FROM walk
ORDER BY block_number DESC, log_index DESC, relation
LIMIT %(limit)s
"""


def upstream(conn: psycopg.Connection[Any], node: str, limit: int = 1_000) -> list[Edge]:
    """Every edge that leads into ``node``, transitively, newest first (at most ``limit``)."""
    rows = conn.execute(_UPSTREAM, {"node": node, "limit": limit}).fetchall()
    return [Edge(*row) for row in rows]
