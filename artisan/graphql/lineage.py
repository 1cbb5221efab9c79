"""``lineage(id, direction, depth, block)``: the graph around an asset, an execution or a
model, as nodes and typed edges, read from the lineage projection's edges as of the block.

The walk is ``projections.lineage_queries`` (one recursive statement per direction, an index
lookup per step); here are its GraphQL types, the id a client may give (a 0x digest or
execution id, a decimal model id, or an asset's CID), and the limits: a depth of at most 10 and
at most 1,000 nodes, each refused with its value named. A node brings its execution, model or
asset on request, batched like every relation and as of the same block.
"""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from strawberry.types import Info

from artisan.executor.assets import digest_of
from artisan.executor.errors import InvalidCid
from artisan.graphql import blocks
from artisan.graphql.arguments import Block_height
from artisan.graphql.entities import Asset, Execution, Model
from artisan.graphql.errors import QueryError
from artisan.projections import lineage_queries
from artisan.projections.lineage_queries import Walk

MAX_DEPTH = 10
MAX_NODES = 1000


@strawberry.enum(name="LineageDirection")
class LineageDirection(enum.Enum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


async def _load(root: LineageNode, info: Info, kind: str, entity: str) -> Any:
    if root.kind != kind:
        return None
    return await info.context.load(entity, root._at, root.id)


async def _execution(root: LineageNode, info: Info) -> Execution | None:
    found: Execution | None = await _load(root, info, "execution", "Execution")
    return found


async def _model(root: LineageNode, info: Info) -> Model | None:
    found: Model | None = await _load(root, info, "model", "Model")
    return found


async def _asset(root: LineageNode, info: Info) -> Asset | None:
    found: Asset | None = await _load(root, info, "asset", "Asset")
    return found


@strawberry.type(description="A node of a lineage graph: an asset, execution, model or account")
class LineageNode:
    kind: str
    id: str
    _at: strawberry.Private[int]
    execution: Execution | None = strawberry.field(
        resolver=_execution, description="The execution, where the node is one"
    )
    model: Model | None = strawberry.field(
        resolver=_model, description="The model, where the node is one (its terms as of the block)"
    )
    asset: Asset | None = strawberry.field(
        resolver=_asset, description="The asset, where the node is one"
    )


@strawberry.type(description="An edge of a lineage graph, at the event that made it")
class LineageEdge:
    relation: str = strawberry.field(
        description="input (asset -> execution), output (execution -> asset), model (model ->"
        " execution), feeds (the first execution whose output is another's input -> that one),"
        " remix (parent model -> remix), cite (curator -> cited asset or model)"
    )
    srcKind: str
    src: str
    dstKind: str
    dst: str
    blockNumber: int
    logIndex: int
    transactionHash: str
    depth: int = strawberry.field(description="Steps from the node asked about (1: touches it)")


@strawberry.type(description="The lineage of one node: every node and edge within the depth")
class Lineage:
    id: str
    direction: LineageDirection
    depth: int
    block: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]


def node_id(given: str) -> str:
    """The lineage node a client names: 0x hex as stored (lowercase), a decimal model id, or an
    asset CID as its 0x digest."""
    text = given.strip()
    if text.startswith("0x"):
        return text.lower()
    if text.isdigit():
        return str(int(text))
    try:
        return "0x" + digest_of(text).hex()
    except InvalidCid:
        raise QueryError(f"`{given[:80]}` is neither a 0x digest or execution id, a model id,"
                         " nor an asset CID") from None  # fmt: skip


async def lineage(
    info: Info, id: str, direction: LineageDirection = LineageDirection.UPSTREAM,
    depth: int = 3, block: Block_height | None = None,
) -> Lineage:  # fmt: skip
    """The graph around ``id``: upstream (what it was made from), downstream (what was made
    from it) or both, up to ``depth`` steps, as of the block."""
    if not 1 <= depth <= MAX_DEPTH:
        raise QueryError(f"The `depth` argument must be between 1 and {MAX_DEPTH}, but is {depth}")
    node = node_id(id)
    at = await blocks.as_of(info.context, block)
    cap = MAX_NODES * 4  # edges per direction: a walk reads at most this many
    params = {"node": node, "block": at, "depth": depth, "cap": cap + 1}
    results = [await info.context.rows(lineage_queries.walk_sql(way), params)
               for way in lineage_queries.ways(direction.value)]  # fmt: skip
    found = lineage_queries.collect(results, cap)
    nodes = found.nodes | {(_kind_of(found, node), node)}
    if found.cut or len(nodes) > MAX_NODES:
        raise QueryError(f"The lineage of `{id[:80]}` reaches more than {MAX_NODES} nodes within"
                         f" depth {depth}: ask for a smaller depth or one direction")  # fmt: skip
    edges = sorted(found.edges.items(),
                   key=lambda item: (item[1], item[0].block_number, item[0].log_index,
                                     item[0].relation))  # fmt: skip
    return Lineage(
        id=node, direction=direction, depth=depth, block=at,
        nodes=[LineageNode(kind=kind, id=value, _at=at) for kind, value in sorted(nodes)],
        edges=[LineageEdge(relation=e.relation, srcKind=e.src_kind, src=e.src,
                           dstKind=e.dst_kind, dst=e.dst, blockNumber=e.block_number,
                           logIndex=e.log_index, transactionHash=e.tx_hash, depth=steps)
               for e, steps in edges],
    )  # fmt: skip


def _kind_of(found: Walk, node: str) -> str:
    for edge in found.edges:
        if edge.src == node:
            return edge.src_kind
        if edge.dst == node:
            return edge.dst_kind
    return "model" if node.isdigit() else "asset"
