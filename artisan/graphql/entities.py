"""The entities the API serves, each declared once: its GraphQL type (plain fields: no per-field
resolver, so large pages stay cheap), its table, its columns for filters and ordering, and
whether its rows are versioned by block range or appended at a block."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry

from artisan.graphql.grammar import Column, Kind
from artisan.graphql.scalars import BigInt, Bytes


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


@strawberry.type(description="An account's escrow and credits on the ledger, as of the block")
class Account:
    id: Bytes
    escrow: BigInt
    owed: BigInt
    pendingWithdrawal: BigInt
    unlockAt: BigInt
    spent: BigInt
    earned: BigInt


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
    convert: Mapping[str, Callable[[Any], Any]] | None = None

    @property
    def name(self) -> str:
        return self.type.__name__

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


def _c(name: str, column: str, kind: Kind) -> Column:
    return Column(name, column, kind)


def _big_list(values: Any) -> list[int]:
    return [int(v) for v in values]


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
    convert={"thresholds": _big_list, "prices": _big_list},
)  # fmt: skip
# Lists are not filterable (graph-node filters lists with _contains; not yet here): selected
# beside the filterable columns.
MODEL_LISTS = (Column("thresholds", "thresholds", Kind.BIG_INT),
               Column("prices", "prices", Kind.BIG_INT))  # fmt: skip

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

ENTITIES: tuple[Entity, ...] = (MODEL, EXECUTION, ACCOUNT)
EXTRA_SELECT: dict[str, tuple[Column, ...]] = {"Model": MODEL_LISTS}
