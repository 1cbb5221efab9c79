"""Lineage as auditors read it: the view equals the twin's edges, and upstream walks agree."""

from __future__ import annotations

from artisan.projections.lineage import MemoryLineage
from artisan.projections.lineage_queries import Edge, upstream
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator

from .support import CHAIN_ID, events_of, write


def reference_upstream(edges: list[Edge], node: str) -> set[Edge]:
    """Breadth-first over the edges, stepping only to edges made at or before the last one."""
    found = {e for e in edges if e.dst == node}
    frontier = set(found)
    while frontier:
        step = {
            e
            for e in edges
            for w in frontier
            if e.dst == w.src and (e.block_number, e.log_index) <= (w.block_number, w.log_index)
        }
        frontier = step - found
        found |= step
    return found


def test_upstream_walks_match_a_reference_walk(store: Database) -> None:
    """From outputs of executions that were fed by others, the SQL walk reaches exactly the
    edges a plain breadth-first walk over the twin's edges reaches, remix ancestry included."""
    blocks = HistoryGenerator(13, chain_id=CHAIN_ID).blocks(40, txs=6)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, blocks)
    run_once(store, CHAIN_ID)
    twin = MemoryLineage()
    for event in events_of(blocks):
        if event.name in ("InferenceExecuted", "ModelRegistered", "Signaled"):
            twin.apply(event)
    edges = [Edge(r[2], r[3], r[4], r[5], r[6], r[0], r[1], r[7]) for r in twin.edges]
    fed = [e.dst for e in edges if e.relation == "feeds"][-5:]
    outputs = [e.dst for e in edges if e.relation == "output" and e.src in fed]
    assert outputs
    with store.connect() as conn:
        for output in outputs:
            walked = upstream(conn, output, limit=100_000)
            assert set(walked) == reference_upstream(edges, output)
            assert {"feeds", "input", "model", "output"} <= {e.relation for e in walked}
