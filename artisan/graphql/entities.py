"""The entities the API serves, each declared once: its GraphQL type, its table, its columns
for filters and ordering, and whether its rows are versioned by block range or appended at a
block.

Leaf fields are plain attributes (no per-field resolver: large pages stay cheap). Relations
are resolvers that ask the request's session, which batches them per entity and block with a
DataLoader (``loaders``), so a page of 100 executions with their models and ratings is three
statements, not 201. Each object carries the block it was read at (``_at``): its relations
read as of the same block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types import Info

from artisan.domain.types import SettlementRole
from artisan.graphql.grammar import Column, Kind
from artisan.graphql.scalars import BigInt, Bytes


async def _parent(root: Model, info: Info) -> Model | None:
    if root.parentId == 0:
        return None
    found: Model | None = await info.context.load("Model", root._at, root.parentId)
    return found


async def _model(root: Execution, info: Info) -> Model | None:
    found: Model | None = await info.context.load("Model", root._at, root.modelId)
    return found


async def _rating(root: Execution, info: Info) -> Rating | None:
    found: Rating | None = await info.context.load("Rating", root._at, root.id)
    return found


@strawberry.type(description="A registered model: its terms as of the block read")
class Model:
    id: strawberry.ID
    cid: Bytes
    owner: Bytes
    parentId: BigInt
    depth: int
    sizeClass: int
    kind: int
    access: int
    pricingKind: int
    fixedPrice: BigInt
    thresholds: list[BigInt]
    prices: list[BigInt]
    remixAllowed: bool
    remixShareBps: int
    daoTreasury: Bytes
    daoShareBps: int
    registeredBlock: BigInt
    registeredTx: Bytes
    _at: strawberry.Private[int]
    parent: Model | None = strawberry.field(
        resolver=_parent, description="The model this one remixes (null for an original)"
    )


@strawberry.type(description="One credit of an execution's cost: who received what, and why")
class Settlement:
    id: str
    executionId: Bytes
    index: int
    recipient: Bytes
    role: int
    roleName: str
    amount: BigInt
    blockNumber: BigInt
    _at: strawberry.Private[int]


@strawberry.type(description="A user's rating of one of their executions")
class Rating:
    id: Bytes
    modelId: BigInt
    user: Bytes
    rating: int
    blockNumber: BigInt
    transactionHash: Bytes
    _at: strawberry.Private[int]


@strawberry.type(description="An InferenceExecuted: what the ledger recorded and charged")
class Execution:
    id: Bytes
    modelId: BigInt
    user: Bytes
    operator: Bytes
    inputDigest: Bytes
    outputDigest: Bytes
    paramsHash: Bytes
    priority: int
    inputUnits: BigInt
    gpuMicros: BigInt
    latencyMicros: BigInt
    storageBytes: BigInt
    concurrentLoad: BigInt
    cost: BigInt
    ratesVersion: BigInt
    blockNumber: BigInt
    blockHash: Bytes
    timestamp: BigInt
    transactionHash: Bytes
    logIndex: int
    settlements: list[Settlement]
    _at: strawberry.Private[int]
    model: Model | None = strawberry.field(
        resolver=_model, description="The executed model, its terms as of the block read"
    )
    rating: Rating | None = strawberry.field(
        resolver=_rating, description="The user's rating of this execution, if given by then"
    )


@strawberry.type(description="An account's escrow and credits on the ledger, as of the block")
class Account:
    id: Bytes
    escrow: BigInt
    owed: BigInt
    pendingWithdrawal: BigInt
    unlockAt: BigInt
    spent: BigInt
    earned: BigInt
    _at: strawberry.Private[int]


@dataclass(frozen=True, slots=True)
class Entity:
    """How one entity type is read: table, columns, and how its rows meet a block."""

    type: type
    singular: str
    plural: str
    table: str
    columns: tuple[Column, ...]
    versioned: bool  # rows carry block_range: read the version open at the block
    block_column: str | None = None  # appended rows: the block they were written at
    extra: tuple[Column, ...] = ()  # selected beside the columns, not filterable
    build: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # row -> type's fields

    @property
    def name(self) -> str:
        return self.type.__name__

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _c(name: str, column: str, kind: Kind) -> Column:
    return Column(name, column, kind)


def _model_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "thresholds": [int(v) for v in row["thresholds"]],
            "prices": [int(v) for v in row["prices"]]}  # fmt: skip


def _execution_fields(row: dict[str, Any]) -> dict[str, Any]:
    recipients, roles, amounts = (row.pop(k) for k in ("_recipients", "_roles", "_amounts"))
    row["settlements"] = [
        Settlement(id=f"{row['id']}-{i}", executionId=row["id"], index=i, recipient=recipient,
                   role=role, roleName=SettlementRole(role).name, amount=amount,
                   blockNumber=row["blockNumber"], _at=row["_at"])
        for i, (recipient, role, amount) in enumerate(zip(recipients, roles, amounts, strict=True),
                                                     start=1)
    ]  # fmt: skip
    return row


MODEL = Entity(
    Model, "model", "models", "proj_models",
    (
        Column("id", "model_id", Kind.ID, integer=True),
        _c("cid", "cid", Kind.BYTES), _c("owner", "owner", Kind.BYTES),
        _c("parentId", "parent_id", Kind.BIG_INT), _c("depth", "depth", Kind.INT),
        _c("sizeClass", "size_class", Kind.INT), _c("kind", "kind", Kind.INT),
        _c("access", "access", Kind.INT), _c("pricingKind", "pricing_kind", Kind.INT),
        _c("fixedPrice", "fixed_price", Kind.BIG_INT),
        _c("remixAllowed", "remix_allowed", Kind.BOOLEAN),
        _c("remixShareBps", "remix_share_bps", Kind.INT),
        _c("daoTreasury", "dao_treasury", Kind.BYTES),
        _c("daoShareBps", "dao_share_bps", Kind.INT),
        _c("registeredBlock", "registered_block", Kind.BIG_INT),
        _c("registeredTx", "registered_tx", Kind.BYTES),
    ),
    versioned=True,
    # Lists are not filterable (graph-node filters lists with _contains; not yet here).
    extra=(Column("thresholds", "thresholds", Kind.BIG_INT),
           Column("prices", "prices", Kind.BIG_INT)),
    build=_model_fields,
)  # fmt: skip

EXECUTION = Entity(
    Execution, "execution", "executions", "proj_executions",
    (
        _c("id", "execution_id", Kind.BYTES), _c("modelId", "model_id", Kind.BIG_INT),
        _c("user", "user_address", Kind.BYTES), _c("operator", "operator", Kind.BYTES),
        _c("inputDigest", "input_digest", Kind.BYTES),
        _c("outputDigest", "output_digest", Kind.BYTES),
        _c("paramsHash", "params_hash", Kind.BYTES), _c("priority", "priority", Kind.INT),
        _c("inputUnits", "input_units", Kind.BIG_INT),
        _c("gpuMicros", "gpu_micros", Kind.BIG_INT),
        _c("latencyMicros", "latency_micros", Kind.BIG_INT),
        _c("storageBytes", "storage_bytes", Kind.BIG_INT),
        _c("concurrentLoad", "concurrent_load", Kind.BIG_INT),
        _c("cost", "cost", Kind.BIG_INT), _c("ratesVersion", "rates_version", Kind.BIG_INT),
        _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("blockHash", "block_hash", Kind.BYTES),
        _c("timestamp", "block_timestamp", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES), _c("logIndex", "log_index", Kind.INT),
    ),
    versioned=False,
    block_column="block_number",
    # The credits travel with their execution: a page's settlements cost no statement.
    extra=(Column("_recipients", "credit_recipients", Kind.BYTES),
           Column("_roles", "credit_roles", Kind.INT),
           Column("_amounts", "credit_amounts", Kind.BIG_INT)),
    build=_execution_fields,
)  # fmt: skip

SETTLEMENT = Entity(
    Settlement, "settlement", "settlements", "execution_settlements",
    (
        Column("id", "t.execution_id || '-' || t.credit_index", Kind.STRING, expression=True),
        _c("executionId", "execution_id", Kind.BYTES), _c("index", "credit_index", Kind.INT),
        _c("recipient", "recipient", Kind.BYTES), _c("role", "role", Kind.INT),
        _c("amount", "amount", Kind.BIG_INT), _c("blockNumber", "block_number", Kind.BIG_INT),
    ),
    versioned=False,
    block_column="block_number",
    build=lambda row: {**row, "roleName": SettlementRole(row["role"]).name},
)  # fmt: skip

RATING = Entity(
    Rating, "rating", "ratings", "proj_ratings",
    (
        _c("id", "execution_id", Kind.BYTES), _c("modelId", "model_id", Kind.BIG_INT),
        _c("user", "user_address", Kind.BYTES), _c("rating", "rating", Kind.INT),
        _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES),
    ),
    versioned=False,
    block_column="block_number",
)  # fmt: skip

ACCOUNT = Entity(
    Account, "account", "accounts", "proj_balances",
    (
        _c("id", "account", Kind.BYTES), _c("escrow", "escrow", Kind.BIG_INT),
        _c("owed", "owed", Kind.BIG_INT),
        _c("pendingWithdrawal", "pending_withdrawal", Kind.BIG_INT),
        _c("unlockAt", "unlock_at", Kind.BIG_INT), _c("spent", "spent", Kind.BIG_INT),
        _c("earned", "earned", Kind.BIG_INT),
    ),
    versioned=True,
)  # fmt: skip

ENTITIES: tuple[Entity, ...] = (MODEL, EXECUTION, SETTLEMENT, RATING, ACCOUNT)
BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}
