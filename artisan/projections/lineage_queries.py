"""Walking lineage: what an auditor asks of ``proj_lineage_edges``.

``upstream`` follows edges backwards from a node (an output asset, an execution, a model):
to the execution that produced an asset, that execution's input, model and feeding
execution, the producers of that input, a model's remix ancestors, and citations on the
way. It only steps to edges made at or before the edge it arrived by (an input cannot have
been produced later than it was used), and stops when nothing new is reached.

``walk`` is the same with a depth (steps from the node) and a direction: ``upstream``,
``downstream`` (forwards, to edges made at or after the one it arrived by: what was made
from the node) or ``both``; as of a block, and cut at a number of edges so that a node
everything depends on (a popular model) cannot make one request read the whole table. Each
step is one index lookup (``proj_lineage_edges_dst`` up, ``proj_lineage_edges_src`` down).
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
    FROM proj_lineage_edges e
    WHERE e.dst = %(node)s
    UNION
    SELECT e.relation, e.src_kind, e.src, e.dst_kind, e.dst, e.block_number, e.log_index,
        e.tx_hash
    FROM walk w
    JOIN proj_lineage_edges e ON e.dst = w.src
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


_EDGE = "e.relation, e.src_kind, e.src, e.dst_kind, e.dst, e.block_number, e.log_index, e.tx_hash"
# (column the walk arrives at, column it leaves by, comparison with the edge it came by)
_WAYS = {"upstream": ("dst", "src", "<="), "downstream": ("src", "dst", ">=")}


DIRECTIONS = ("upstream", "downstream", "both")


def walk_sql(direction: str) -> str:
    """One direction's walk: parameters ``node``, ``block``, ``depth`` and ``cap``."""
    arrive, leave, compare = _WAYS[direction]
    return f"""
WITH RECURSIVE walk AS (
    SELECT {_EDGE}, 1 AS depth FROM proj_lineage_edges e
    WHERE e.{arrive} = %(node)s AND e.block_number <= %(block)s
    UNION
    SELECT {_EDGE}, w.depth + 1 FROM walk w
    JOIN proj_lineage_edges e ON e.{arrive} = w.{leave}
        AND (e.block_number, e.log_index) {compare} (w.block_number, w.log_index)
        AND e.block_number <= %(block)s
    WHERE w.depth < %(depth)s
)
SELECT relation, src_kind, src, dst_kind, dst, block_number, log_index, tx_hash, depth
FROM walk LIMIT %(cap)s
"""


def ways(direction: str) -> tuple[str, ...]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction is one of {', '.join(DIRECTIONS)}, not {direction!r}")
    return ("upstream", "downstream") if direction == "both" else (direction,)


@dataclass(frozen=True, slots=True)
class Walk:
    """The edges reached, each with the fewest steps it took (1: touching the node), and
    whether a direction stopped at ``cap`` edges before reaching all of them."""

    edges: dict[Edge, int]
    cut: bool

    @property
    def nodes(self) -> set[tuple[str, str]]:
        return {n for e in self.edges for n in ((e.src_kind, e.src), (e.dst_kind, e.dst))}


def collect(results: list[list[Any]], cap: int) -> Walk:
    """The rows of each direction's walk (``walk_sql`` with ``cap + 1``) as one ``Walk``."""
    edges: dict[Edge, int] = {}
    cut = False
    for rows in results:
        cut = cut or len(rows) > cap
        for row in rows[:cap]:
            values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
            edge = Edge(*values[:8])
            edges[edge] = min(edges.get(edge, values[8]), values[8])
    return Walk(edges, cut)


def walk(
    conn: psycopg.Connection[Any], node: str, direction: str, depth: int, block: int, cap: int
) -> Walk:
    """The lineage of ``node`` up to ``depth`` steps, as of ``block``: ``direction`` is
    ``upstream``, ``downstream`` or ``both``; at most ``cap`` edge visits per direction."""
    params = {"node": node, "block": block, "depth": depth, "cap": cap + 1}
    return collect([conn.execute(walk_sql(w), params).fetchall() for w in ways(direction)], cap)
