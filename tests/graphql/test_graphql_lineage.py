"""Lineage through the API and the CLI: a remix chain of depth 5, a CITE on a model and on an
asset, an output reused as an input; both directions at depths 1 and 5, against a plain
breadth-first walk over the edges the events imply (written here, not read back)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from artisan.executor.assets import cid_of
from artisan.executor.serving import serve_in_thread
from artisan.graphql.app import create_app
from artisan.projections.runner import run_once
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter
from artisan.testing.synthetic import HistoryGenerator
from tests.projections.support import CHAIN_ID, write

from .support import data, error

OWNER, USER, CURATOR = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
A0, A1, A2 = ("0x" + c * 64 for c in "abc")
X1, X2 = "0x" + "d1" * 32, "0x" + "d2" * 32
Edge = tuple[str, str, str, str, str, int, int]  # relation, src kind, src, dst kind, dst, b, l

QUERY = """query($id: String!, $d: LineageDirection, $n: Int) {
  lineage(id: $id, direction: $d, depth: $n) {
    id nodes { kind id execution { id } model { id } }
    edges { relation srcKind src dstKind dst blockNumber logIndex depth }
  }
}"""


def _model(model_id: int, parent: int) -> tuple[str, dict[str, object]]:
    return (
        "ModelRegistered",
        {
            "modelId": model_id,
            "cid": "0x" + f"{model_id:064x}",
            "owner": OWNER,
            "parentId": parent,
            "sizeClass": 0,
            "depth": max(0, model_id - 1),
        },
    )


def _run(execution: str, model: int, given: str, made: str) -> tuple[str, dict[str, object]]:
    return ("InferenceExecuted", {
        "executionId": execution, "modelId": model, "user": USER, "operator": OWNER,
        "inputDigest": given, "outputDigest": made, "paramsHash": "0x" + "00" * 32,
        "priority": 1, "meter": {"inputUnits": 1, "gpuMicros": 1, "latencyMicros": 1,
                                 "storageBytes": 1, "concurrentLoad": 0},
        "cost": 0, "ratesVersion": 1})  # fmt: skip


def _cite(signal: int, kind: int, target: str) -> tuple[str, dict[str, object]]:
    return ("Signaled", {"signalId": signal, "curator": CURATOR, "targetKind": kind,
                         "target": target, "kind": 3, "amount": 4})  # fmt: skip


@pytest.fixture(scope="module")
def served(pg_server: Database) -> Iterator[tuple[httpx.Client, Database]]:
    from tests.projections.support import fresh_store

    for db in fresh_store(pg_server):
        gen = HistoryGenerator(5, chain_id=CHAIN_ID)
        blocks = [
            gen.mine([_model(1, 0), _model(2, 1), _model(3, 2)]),                 # block 1
            gen.mine([_model(4, 3), _model(5, 4), _model(6, 5)]),                 # block 2
            gen.mine([_cite(1, 0, "0x" + (1).to_bytes(32, "big").hex())]),       # block 3
            gen.mine([_run(X1, 6, A0, A1)]),                                     # block 4
            gen.mine([_run(X2, 3, A1, A2), _cite(2, 1, A2)]),                    # block 5
        ]  # fmt: skip
        with SeedWriter(db, CHAIN_ID) as writer:
            write(writer, blocks)
        run_once(db, CHAIN_ID)
        app = create_app(db.url, chain_id=CHAIN_ID, max_lag_blocks=0)
        with serve_in_thread(app, lifespan=True) as url, httpx.Client(base_url=url) as http:
            yield http, db


def implied() -> list[Edge]:
    """The edges the five blocks above imply, by the rules in docs (not read back)."""
    remix = [("remix", "model", str(m - 1), "model", str(m), 1 if m <= 3 else 2, (m - 1) % 3)
             for m in range(2, 7)]  # fmt: skip
    return [
        *remix,
        ("cite", "account", CURATOR, "model", "1", 3, 0),
        ("input", "asset", A0, "execution", X1, 4, 0),
        ("output", "execution", X1, "asset", A1, 4, 0),
        ("model", "model", "6", "execution", X1, 4, 0),
        ("input", "asset", A1, "execution", X2, 5, 0),
        ("output", "execution", X2, "asset", A2, 5, 0),
        ("model", "model", "3", "execution", X2, 5, 0),
        ("feeds", "execution", X1, "execution", X2, 5, 0),
        ("cite", "account", CURATOR, "asset", A2, 5, 1),
    ]


def follows(e: Edge, w: Edge, into: bool) -> bool:
    """Whether the walk steps from edge ``w`` to edge ``e`` (up: into w's source, no later)."""
    if into:
        return e[4] == w[2] and (e[5], e[6]) <= (w[5], w[6])
    return e[2] == w[4] and (e[5], e[6]) >= (w[5], w[6])


def reference(node: str, direction: str, depth: int) -> dict[Edge, int]:
    """Breadth-first: up, to edges into the frontier made at or before the edge it came by;
    down, to edges out of it made at or after."""
    edges, found = implied(), dict[Edge, int]()
    ways = ("upstream", "downstream") if direction == "both" else (direction,)
    for way in ways:
        into = way == "upstream"
        frontier = [e for e in edges if (e[4] if into else e[2]) == node]
        steps = 1
        while frontier and steps <= depth:
            for e in frontier:
                found[e] = min(found.get(e, steps), steps)
            frontier = list({e for e in edges for w in frontier if follows(e, w, into)})
            steps += 1
    return found


def walked(http: httpx.Client, node: str, direction: str, depth: int) -> dict[Edge, int]:
    got = data(http, QUERY, id=node, d=direction.upper(), n=depth)["lineage"]
    return {(e["relation"], e["srcKind"], e["src"], e["dstKind"], e["dst"], e["blockNumber"],
             e["logIndex"]): e["depth"] for e in got["edges"]}  # fmt: skip


@pytest.mark.parametrize("direction", ["upstream", "downstream", "both"])
@pytest.mark.parametrize("depth", [1, 5])
@pytest.mark.parametrize("node", [A2, X2, A1, "1", "3", A0])
def test_the_walk_equals_a_plain_breadth_first_walk(
    served: tuple[httpx.Client, Database], node: str, direction: str, depth: int
) -> None:
    http, _ = served
    assert walked(http, node, direction, depth) == reference(node, direction, depth)


def test_the_chain_is_walked_through_remixes_feeds_and_citations(
    served: tuple[httpx.Client, Database],
) -> None:
    http, _ = served
    deep = walked(http, A2, "upstream", 5)
    relations = {e[0] for e in deep}
    assert {"output", "input", "feeds", "model", "remix", "cite"} <= relations
    # Upstream of the last output at depth 5: X2, then its model 3, then 2, then 1 (remixes).
    assert ("remix", "model", "1", "model", "2", 1, 1) in deep
    shallow = walked(http, A2, "upstream", 1)
    assert set(shallow) == {("output", "execution", X2, "asset", A2, 5, 0),
                            ("cite", "account", CURATOR, "asset", A2, 5, 1)}  # fmt: skip
    # Downstream of model 1: its remixes to depth 5 reach model 6, and model 6's execution.
    down = walked(http, "1", "downstream", 5)
    assert ("remix", "model", "5", "model", "6", 2, 2) in down
    got = data(http, QUERY, id=cid_of(bytes.fromhex(A1[2:])), d="UPSTREAM", n=2)["lineage"]
    assert got["id"] == A1 and {n["id"] for n in got["nodes"]} >= {A1, X1, A0, "6"}
    x1 = next(n for n in got["nodes"] if n["id"] == X1)
    assert x1["execution"] == {"id": X1} and x1["model"] is None


def test_limits_are_refused_by_name(served: tuple[httpx.Client, Database]) -> None:
    http, _ = served
    assert error(http, QUERY, id=A2, d="UPSTREAM", n=11) == (
        "The `depth` argument must be between 1 and 10, but is 11"
    )
    assert "is neither a 0x digest" in error(http, QUERY, id="not-a-cid", n=1)


def test_the_cli_prints_the_same_graph(served: tuple[httpx.Client, Database]) -> None:
    _, db = served
    env = {"ARTISAN_DATABASE_URL": db.url, "PATH": "/usr/bin:/bin", "COLUMNS": "250"}
    argv = [sys.executable, "-m", "artisan.cli", "lineage", A2, "--depth", "5", "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    graph = json.loads(out.stdout)
    got = {(e["relation"], e["srcKind"], e["src"], e["dstKind"], e["dst"], e["block"],
            e["logIndex"]): e["depth"] for e in graph["edges"]}  # fmt: skip
    assert got == reference(A2, "upstream", 5)
    tree = subprocess.run([sys.executable, "-m", "artisan.cli", "lineage", A2, "--depth", "2"],
                          capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
    assert "<- output: execution " + X2 in tree and "<- feeds: execution " + X1 in tree
