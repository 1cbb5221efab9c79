"""`artisan lineage ID`: the lineage of an asset, an execution or a model, as a tree, read from
the lineage projection (the same walk as the API's `lineage` field)."""

from __future__ import annotations

from collections import defaultdict

import typer

from artisan.cli.common import console, fail, json_line, settings_or_exit
from artisan.errors import ArtisanError, ConfigError

MAX_DEPTH = 10
EDGES = 4000  # per direction: a node everything depends on is cut, and the tree says so


def lineage_command(
    node: str = typer.Argument(..., metavar="ID", help="a 0x digest or execution id, a model id"),
    direction: str = typer.Option("upstream", help="upstream, downstream or both"),
    depth: int = typer.Option(3, min=1, max=MAX_DEPTH, help="steps from ID"),
    as_json: bool = typer.Option(False, "--json", help="the graph as one JSON object"),
) -> None:
    """What ID was made from (upstream), what was made from it (downstream), or both."""
    from rich.tree import Tree

    from artisan.projections import lineage_queries
    from artisan.storage.database import open_database

    if direction not in lineage_queries.DIRECTIONS:
        raise fail(ConfigError(f"--direction is upstream, downstream or both, not {direction!r}"))
    start = node.lower() if node.startswith("0x") else node
    db = open_database(settings_or_exit())
    try:
        with db.connect() as conn:
            found = lineage_queries.walk(conn, start, direction, depth, 2**62, EDGES)
    except ArtisanError as exc:
        raise fail(exc) from exc
    finally:
        db.close()
    edges = sorted(found.edges.items(), key=lambda i: (i[1], i[0].block_number, i[0].log_index))
    if as_json:
        json_line({
            "id": start, "direction": direction, "depth": depth, "cut": found.cut,
            "nodes": [{"kind": k, "id": v} for k, v in sorted(found.nodes)],
            "edges": [{"relation": e.relation, "src": e.src, "srcKind": e.src_kind,
                       "dst": e.dst, "dstKind": e.dst_kind, "block": e.block_number,
                       "logIndex": e.log_index, "txHash": e.tx_hash, "depth": steps}
                      for e, steps in edges],
        })  # fmt: skip
        return
    if not edges:
        console.print(f"{start}: no lineage edges (not an asset, execution or model seen yet?)")
        raise typer.Exit(1)
    up: dict[str, list[tuple[str, str]]] = defaultdict(list)  # node -> (relation, neighbour)
    down: dict[str, list[tuple[str, str]]] = defaultdict(list)
    kinds = {value: kind for kind, value in found.nodes}
    for e, _ in edges:
        up[e.dst].append((e.relation, e.src))
        down[e.src].append((e.relation, e.dst))

    def grow(tree: Tree, at: str, links: dict[str, list[tuple[str, str]]], arrow: str,
             seen: frozenset[str], left: int) -> None:  # fmt: skip
        for relation, other in links.get(at, []):
            label = f"{arrow} {relation}: {kinds.get(other, '?')} {other}"
            branch = tree.add(label if other not in seen else f"{label} (above)")
            if other not in seen and left > 1:
                grow(branch, other, links, arrow, seen | {other}, left - 1)

    root = Tree(f"{kinds.get(start, 'node')} {start}")
    if direction in ("upstream", "both"):
        grow(root, start, up, "<-", frozenset({start}), depth)
    if direction in ("downstream", "both"):
        grow(root, start, down, "->", frozenset({start}), depth)
    console.print(root)
    console.print(f"{len(found.nodes)} nodes, {len(edges)} edges within depth {depth}"
                  + (" (cut: more edges than one walk reads)" if found.cut else ""))  # fmt: skip
