"""The entities the API serves, each declared once: its GraphQL type, where its rows come
from, its columns for filters and ordering, how its rows meet a block, and its relations.

Leaf fields are plain attributes (no per-field resolver: large pages stay cheap). Relations
are resolvers that ask the request's session, which batches them per entity and block with a
DataLoader (``loaders``): a page of 100 executions with their models and ratings is three
statements, not 201, and a page of 100 models each with its first 10 executions is two. Each
object carries the block it was read at (``_at``): its relations read as of the same block.

Rows come from a table (``table``) or, for what no table holds as such, from a subquery over
the projections or the event store (``source``, written with ``{block}`` and ``{chain}``):
curation scores are computed as of the block, assets are the digests executions read and
wrote, rejections and rates versions are events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types import Info

from artisan.domain.types import RejectReason, SettlementRole, SignalKind
from artisan.graphql.arguments import OrderDirection, as_dict, order_of
from artisan.graphql.grammar import Column, Kind
from artisan.graphql.scalars import BigInt, Bytes
from artisan.projections.curation_scores import DEFAULT_HALF_LIFE


@dataclass(frozen=True, slots=True)
class Relation:
    """A field of one entity that holds others: ``many`` rows of ``target`` whose ``remote``
    column equals this row's ``local`` one (``key_type``: the SQL type they compare as), or
    the one ``target`` whose id is this row's ``local``."""

    owner: str
    name: str
    target: str
    local: str
    remote: str = "id"
    many: bool = False
    key_type: str = "text"


RELATIONS: dict[tuple[str, str], Relation] = {}


def _one(
    owner: str, name: str, target: str, local: str, description: str, absent: Any = None
) -> Any:
    """A to-one relation; ``absent``: the key that means none (a parent id of 0)."""
    RELATIONS[owner, name] = Relation(owner, name, target, local)

    async def resolve(root: Any, info: Info) -> Any:
        key = getattr(root, local)
        if key is None or key == absent:
            return None
        return await info.context.load(target, root._at, key)

    resolve.__annotations__["return"] = f"{target} | None"
    return strawberry.field(resolver=resolve, description=description)


def _many(
    owner: str, name: str, target: str, local: str, remote: str, key_type: str, description: str
) -> Any:
    relation = RELATIONS[owner, name] = Relation(owner, name, target, local, remote, True,
                                                 key_type)  # fmt: skip

    async def resolve(
        root: Any, info: Info, skip: int | None = 0, first: int | None = 100,
        orderBy: Any = None, orderDirection: OrderDirection | None = None, where: Any = None,
    ) -> Any:  # fmt: skip
        field, desc = order_of(orderBy, orderDirection)
        return await info.context.children(
            relation, root._at, getattr(root, local), as_dict(where), field, desc, first, skip
        )

    # Named here, resolved when the schema is built: ``inputs`` puts the filter and order
    # types in this module's namespace once every entity's exists (they refer to each other).
    resolve.__annotations__.update({
        "return": f"list[{target}]", "where": f"{target}_filter | None",
        "orderBy": f"{target}_orderBy | None",
    })  # fmt: skip
    return strawberry.field(resolver=resolve, name=name, description=description)


async def _score_model(root: CurationScore, info: Info) -> Model | None:
    if root.targetKind != 0:
        return None
    found: Model | None = await info.context.load("Model", root._at, int(root.target))
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
    parent: Model | None = _one(
        "Model",
        "parent",
        "Model",
        "parentId",
        "The model this one remixes (null for an original)",
        absent=0,
    )
    children: list[Model] = _many(
        "Model", "children", "Model", "id", "parentId", "bigint", "The remixes of this model"
    )
    executions: list[Execution] = _many(
        "Model", "executions", "Execution", "id", "modelId", "bigint", "Executions of this model"
    )
    accessList: list[ModelAccess] = _many(
        "Model", "accessList", "ModelAccess", "id", "modelId", "bigint",
        "Accounts granted (or revoked) access to this model",
    )  # fmt: skip
    usage: ModelUsage | None = _one(
        "Model", "usage", "ModelUsage", "id", "Its executions, fees and users by the block read"
    )


@strawberry.type(description="An account on a model's access list, as of the block")
class ModelAccess:
    id: str
    modelId: BigInt
    account: Bytes
    granted: bool
    _at: strawberry.Private[int]
    model: Model | None = _one("ModelAccess", "model", "Model", "modelId", "The model")


@strawberry.type(description="A model's use up to the block read: its counters")
class ModelUsage:
    id: strawberry.ID
    executions: int
    fees: BigInt
    users: int
    lastBlock: BigInt
    _at: strawberry.Private[int]
    model: Model | None = _one("ModelUsage", "model", "Model", "id", "The model")


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
    execution: Execution | None = _one(
        "Settlement", "execution", "Execution", "executionId", "The execution this credit is of"
    )


@strawberry.type(description="A user's rating of one of their executions")
class Rating:
    id: Bytes
    modelId: BigInt
    user: Bytes
    rating: int
    blockNumber: BigInt
    transactionHash: Bytes
    _at: strawberry.Private[int]
    execution: Execution | None = _one(
        "Rating", "execution", "Execution", "id", "The rated execution"
    )


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
    model: Model | None = _one(
        "Execution", "model", "Model", "modelId",
        "The executed model, its terms as of the block read",
    )  # fmt: skip
    rating: Rating | None = _one(
        "Execution",
        "rating",
        "Rating",
        "id",
        "The user's rating of this execution, if given by then",
    )
    rates: RatesVersion | None = _one(
        "Execution", "rates", "RatesVersion", "ratesVersion", "The rates the cost was metered by"
    )
    input: Asset | None = _one("Execution", "input", "Asset", "inputDigest", "What it read")
    output: Asset | None = _one("Execution", "output", "Asset", "outputDigest", "What it wrote")
    request: SignedRequest | None = _one(
        "Execution", "request", "SignedRequest", "id",
        "What the user signed (from the recordBatch calldata): max cost, nonce, deadline,"
        " signature",
    )  # fmt: skip


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
    executions: list[Execution] = _many(
        "Account", "executions", "Execution", "id", "user", "text", "The account's executions"
    )
    claims: list[Claim] = _many(
        "Account", "claims", "Claim", "id", "account", "text", "The account's reward claims"
    )


@strawberry.type(description="A content digest that executions read (input) or wrote (output)")
class Asset:
    id: Bytes
    firstBlock: BigInt
    producedCount: int
    consumedCount: int
    _at: strawberry.Private[int]
    producedBy: list[Execution] = _many(
        "Asset", "producedBy", "Execution", "id", "outputDigest", "text",
        "The executions that wrote it, first the one that made it",
    )  # fmt: skip
    consumedBy: list[Execution] = _many(
        "Asset", "consumedBy", "Execution", "id", "inputDigest", "text",
        "The executions that read it",
    )  # fmt: skip


@strawberry.type(description="A staked curation signal on a model or an asset, as of the block")
class CurationSignal:
    id: strawberry.ID
    curator: Bytes
    targetKind: int
    target: str
    kind: int
    kindName: str
    amount: BigInt
    weight: BigInt
    signalBlock: BigInt
    signalTx: Bytes
    active: bool
    _at: strawberry.Private[int]


@strawberry.type(
    description="A target's curation score as of the block: the active signals' weights, each"
    " halved once per half-life since it was made"
)
class CurationScore:
    id: str
    targetKind: int
    target: str
    score: BigInt
    likes: int
    stars: int
    forks: int
    cites: int
    curators: int
    _at: strawberry.Private[int]
    model: Model | None = strawberry.field(
        resolver=_score_model, description="The scored model (null for an asset)"
    )


@strawberry.type(description="A reward epoch: closed here (its tree) and/or published on chain")
class RewardEpoch:
    id: strawberry.ID
    fromBlock: BigInt
    toBlock: BigInt
    pool: BigInt | None
    total: BigInt
    root: Bytes | None
    leafCount: int | None
    publishedBlock: BigInt | None
    publishedTx: Bytes | None
    _at: strawberry.Private[int]
    leaves: list[RewardLeaf] = _many(
        "RewardEpoch", "leaves", "RewardLeaf", "id", "epoch", "bigint", "The epoch's leaves"
    )
    claims: list[Claim] = _many(
        "RewardEpoch", "claims", "Claim", "id", "epoch", "numeric", "Claims against the epoch"
    )


@strawberry.type(description="One account's reward in a closed epoch, with its Merkle proof")
class RewardLeaf:
    id: str
    epoch: BigInt
    account: Bytes
    amount: BigInt
    proof: list[Bytes]
    claimed: bool
    claimedBlock: BigInt | None
    _at: strawberry.Private[int]


@strawberry.type(description="A reward claimed on chain")
class Claim:
    id: str
    epoch: BigInt
    account: Bytes
    amount: BigInt
    blockNumber: BigInt
    transactionHash: Bytes
    _at: strawberry.Private[int]


@strawberry.type(description="A canonical block header the indexer holds")
class Block:
    id: Bytes
    number: BigInt
    parentHash: Bytes
    timestamp: BigInt
    _at: strawberry.Private[int]


@strawberry.type(description="A reorganization the indexer followed: what it orphaned")
class Reorg:
    id: strawberry.ID
    ancestorNumber: BigInt
    ancestorHash: Bytes | None
    depth: int
    oldTipNumber: BigInt
    orphanedHashes: list[Bytes]
    detectedAt: str
    _at: strawberry.Private[int]


@strawberry.type(description="An ExecutionRejected: a request the ledger refused, not charged")
class RejectedExecution:
    id: str
    executionId: Bytes
    modelId: BigInt
    user: Bytes
    operator: Bytes
    reason: int
    reasonName: str
    blockNumber: BigInt
    transactionHash: Bytes
    logIndex: int
    _at: strawberry.Private[int]
    model: Model | None = _one(
        "RejectedExecution", "model", "Model", "modelId", "The model asked for, if registered"
    )
    request: SignedRequest | None = _one(
        "RejectedExecution", "request", "SignedRequest", "executionId",
        "What the user signed (from the recordBatch calldata)",
    )  # fmt: skip


@strawberry.type(
    description="The signed request behind an execution or a refusal, read by the indexer from"
    " the recordBatch transaction's calldata (a RequestSigned event)"
)
class SignedRequest:
    id: Bytes = strawberry.field(description="The execution id: the request's EIP-712 digest")
    user: Bytes
    modelId: BigInt
    inputDigest: Bytes
    paramsHash: Bytes
    priority: int
    maxCost: BigInt
    nonce: BigInt
    deadline: BigInt
    signature: Bytes
    outputDigest: Bytes = strawberry.field(description="What the operator submitted with it")
    executed: bool = strawberry.field(description="Executed, or refused (RejectedExecution)")
    blockNumber: BigInt
    transactionHash: Bytes
    _at: strawberry.Private[int]
    execution: Execution | None = _one(
        "SignedRequest", "execution", "Execution", "id", "The execution, if it ran"
    )


@strawberry.type(description="A RatesSet: one version of the metering rates")
class RatesVersion:
    id: strawberry.ID
    unitRate: list[BigInt]
    gpuRate: BigInt
    latencyRate: BigInt
    storageRate: BigInt
    priorityBps: list[int]
    loadBpsPerUnit: BigInt
    loadCapacity: BigInt
    maxLoadBps: int
    operatorBps: int
    treasuryBps: int
    blockNumber: BigInt
    transactionHash: Bytes
    _at: strawberry.Private[int]


@dataclass(frozen=True, slots=True)
class Entity:
    """How one entity type is read: where from, its columns, and how its rows meet a block."""

    type: type
    singular: str
    plural: str
    table: str  # a table or view; or, with ``source``, the name the subquery stands for
    columns: tuple[Column, ...]
    versioned: bool  # rows carry block_range: read the version open at the block
    block_column: str | None = None  # appended rows: the block they were written at
    extra: tuple[Column, ...] = ()  # selected beside the columns, not filterable
    build: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # row -> type's fields
    source: str | None = None  # a subquery (``{block}``, ``{chain}``) in place of the table

    @property
    def name(self) -> str:
        return self.type.__name__

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def relations(self) -> dict[str, Relation]:
        return {r.name: r for r in RELATIONS.values() if r.owner == self.name}


def _c(name: str, column: str, kind: Kind) -> Column:
    return Column(name, column, kind)


def _int_id(column: str) -> Column:
    return Column("id", column, Kind.ID, integer=True)


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
        _int_id("model_id"),
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
        Column("id", "{t}.execution_id || '-' || {t}.credit_index", Kind.STRING,
               expression=True),
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

MODEL_ACCESS = Entity(
    ModelAccess, "modelAccess", "modelAccesses", "proj_model_access",
    (
        Column("id", "{t}.model_id || '-' || {t}.account", Kind.STRING, expression=True),
        _c("modelId", "model_id", Kind.BIG_INT), _c("account", "account", Kind.BYTES),
        _c("granted", "granted", Kind.BOOLEAN),
    ),
    versioned=True,
)  # fmt: skip

# A filter on the id reaches proj_executions_model (model_id, block_number) through the
# grouping: one model's counters read its own executions only.
MODEL_USAGE = Entity(
    ModelUsage, "modelUsage", "modelUsages", "model_usage",
    (
        _int_id("model_id"), _c("executions", "executions", Kind.INT),
        _c("fees", "fees", Kind.BIG_INT), _c("users", "users", Kind.INT),
        _c("lastBlock", "last_block", Kind.BIG_INT),
    ),
    versioned=False,
    source="""(
    SELECT model_id, count(*) AS executions, sum(cost) AS fees,
           count(DISTINCT user_address) AS users, max(block_number) AS last_block
    FROM proj_executions WHERE block_number <= {block} GROUP BY model_id)""",
)  # fmt: skip

# Every digest an execution at or below the block read or wrote, grouped: a filter on the id
# reaches the two digest indexes of proj_executions through the grouping.
_ASSETS = """(
    SELECT d.digest AS id, min(d.block_number) AS first_block,
           count(*) FILTER (WHERE d.wrote) AS produced,
           count(*) FILTER (WHERE NOT d.wrote) AS consumed
    FROM (SELECT output_digest AS digest, block_number, true AS wrote FROM proj_executions
          WHERE block_number <= {block}
          UNION ALL
          SELECT input_digest, block_number, false FROM proj_executions
          WHERE block_number <= {block}) d
    GROUP BY d.digest)"""

ASSET = Entity(
    Asset, "asset", "assets", "assets",
    (
        _c("id", "id", Kind.BYTES), _c("firstBlock", "first_block", Kind.BIG_INT),
        _c("producedCount", "produced", Kind.INT), _c("consumedCount", "consumed", Kind.INT),
    ),
    versioned=False,
    block_column="first_block",
    source=_ASSETS,
)  # fmt: skip

CURATION_SIGNAL = Entity(
    CurationSignal, "curationSignal", "curationSignals", "proj_signals",
    (
        _int_id("signal_id"), _c("curator", "curator", Kind.BYTES),
        _c("targetKind", "target_kind", Kind.INT), _c("target", "target", Kind.STRING),
        _c("kind", "kind", Kind.INT), _c("amount", "amount", Kind.BIG_INT),
        _c("weight", "weight", Kind.BIG_INT), _c("signalBlock", "signal_block", Kind.BIG_INT),
        _c("signalTx", "signal_tx", Kind.BYTES), _c("active", "active", Kind.BOOLEAN),
    ),
    versioned=True,
    build=lambda row: {**row, "kindName": SignalKind(row["kind"]).name},
)  # fmt: skip

# curation_scores' rule in one aggregate over the signals active at the block (weights are
# below 2**131, so a shift of 256 or more is 0: the CASE keeps power() off huge exponents).
_SCORES = f"""(
    SELECT target_kind::text || ':' || target AS id, target_kind, target,
        sum(CASE WHEN ({{block}} - signal_block) / {DEFAULT_HALF_LIFE} >= 256 THEN 0
                 ELSE div(weight, power(2::numeric,
                                        ({{block}} - signal_block) / {DEFAULT_HALF_LIFE}))
            END) AS score,
        count(*) FILTER (WHERE kind = 0) AS likes, count(*) FILTER (WHERE kind = 1) AS stars,
        count(*) FILTER (WHERE kind = 2) AS forks, count(*) FILTER (WHERE kind = 3) AS cites,
        count(DISTINCT curator) AS curators
    FROM proj_signals
    WHERE active AND block_range @> {{block}}::bigint
    GROUP BY target_kind, target)"""

CURATION_SCORE = Entity(
    CurationScore, "curationScore", "curationScores", "curation_scores",
    (
        _c("id", "id", Kind.STRING), _c("targetKind", "target_kind", Kind.INT),
        _c("target", "target", Kind.STRING), _c("score", "score", Kind.BIG_INT),
        _c("likes", "likes", Kind.INT), _c("stars", "stars", Kind.INT),
        _c("forks", "forks", Kind.INT), _c("cites", "cites", Kind.INT),
        _c("curators", "curators", Kind.INT),
    ),
    versioned=False,
    source=_SCORES,
)  # fmt: skip

# An epoch closed here (its tree: reward_epochs) and/or published on chain by the block
# (proj_epochs_published); it is there from its last block (closed) or its publication.
_EPOCHS = """(
    SELECT coalesce(e.epoch, p.epoch) AS epoch,
           coalesce(e.from_block, p.from_block) AS from_block,
           coalesce(e.to_block, p.to_block) AS to_block, e.pool,
           coalesce(e.total, p.total) AS total,
           coalesce(e.root, p.root) AS root, e.leaf_count, p.block_number AS published_block,
           p.tx_hash AS published_tx, coalesce(e.to_block, p.block_number) AS visible_block
    FROM reward_epochs e
    FULL JOIN (SELECT * FROM proj_epochs_published WHERE block_number <= {block}) p
        ON p.epoch = e.epoch)"""

REWARD_EPOCH = Entity(
    RewardEpoch, "rewardEpoch", "rewardEpochs", "reward_epochs",
    (
        _int_id("epoch"), _c("fromBlock", "from_block", Kind.BIG_INT),
        _c("toBlock", "to_block", Kind.BIG_INT), _c("pool", "pool", Kind.BIG_INT),
        _c("total", "total", Kind.BIG_INT), _c("root", "root", Kind.BYTES),
        _c("leafCount", "leaf_count", Kind.INT),
        _c("publishedBlock", "published_block", Kind.BIG_INT),
        _c("publishedTx", "published_tx", Kind.BYTES),
    ),
    versioned=False,
    block_column="visible_block",
    source=_EPOCHS,
)  # fmt: skip

_LEAVES = """(
    SELECT l.epoch, l.account, l.amount, l.proof, e.to_block, c.block_number AS claimed_block
    FROM reward_leaves l JOIN reward_epochs e ON e.epoch = l.epoch
    LEFT JOIN proj_claims c ON c.epoch = l.epoch AND c.account = l.account
                           AND c.block_number <= {block})"""

REWARD_LEAF = Entity(
    RewardLeaf, "rewardLeaf", "rewardLeaves", "reward_leaves",
    (
        Column("id", "{t}.epoch || '-' || {t}.account", Kind.STRING, expression=True),
        _c("epoch", "epoch", Kind.BIG_INT), _c("account", "account", Kind.BYTES),
        _c("amount", "amount", Kind.BIG_INT),
        Column("claimed", "{t}.claimed_block IS NOT NULL", Kind.BOOLEAN, expression=True),
        _c("claimedBlock", "claimed_block", Kind.BIG_INT),
    ),
    versioned=False,
    block_column="to_block",
    extra=(Column("proof", "proof", Kind.BYTES),),
    source=_LEAVES,
)  # fmt: skip

CLAIM = Entity(
    Claim, "claim", "claims", "proj_claims",
    (
        Column("id", "{t}.epoch || '-' || {t}.account", Kind.STRING, expression=True),
        _c("epoch", "epoch", Kind.BIG_INT), _c("account", "account", Kind.BYTES),
        _c("amount", "amount", Kind.BIG_INT), _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES),
    ),
    versioned=False,
    block_column="block_number",
)  # fmt: skip

BLOCK = Entity(
    Block, "block", "blocks", "blocks",
    (
        _c("id", "hash", Kind.BYTES), _c("number", "number", Kind.BIG_INT),
        _c("parentHash", "parent_hash", Kind.BYTES), _c("timestamp", "timestamp", Kind.BIG_INT),
    ),
    versioned=False,
    block_column="number",
    source="(SELECT * FROM blocks WHERE chain_id = {chain} AND orphaned_by IS NULL)",
)  # fmt: skip

# A reorg is there from the first block it replaced.
REORG = Entity(
    Reorg, "reorg", "reorgs", "reorgs",
    (
        _int_id("id"), _c("ancestorNumber", "ancestor_number", Kind.BIG_INT),
        _c("ancestorHash", "ancestor_hash", Kind.BYTES), _c("depth", "depth", Kind.INT),
        _c("oldTipNumber", "old_tip_number", Kind.BIG_INT),
        Column("detectedAt", "to_char({t}.detected_at AT TIME ZONE 'UTC',"
               " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", Kind.STRING, expression=True),
    ),
    versioned=False,
    block_column="replaced_from",
    extra=(Column("orphanedHashes", "orphaned_hashes", Kind.BYTES),),
    source="(SELECT r.*, r.ancestor_number + 1 AS replaced_from FROM reorgs r"
           " WHERE r.chain_id = {chain})",
)  # fmt: skip

REJECTED_EXECUTION = Entity(
    RejectedExecution, "rejectedExecution", "rejectedExecutions", "rejected_executions",
    (
        Column("id", "{t}.tx_hash || '-' || {t}.log_index", Kind.STRING, expression=True),
        _c("executionId", "execution_id", Kind.BYTES), _c("modelId", "model_id", Kind.BIG_INT),
        _c("user", "user_address", Kind.BYTES), _c("operator", "operator", Kind.BYTES),
        _c("reason", "reason", Kind.INT), _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES), _c("logIndex", "log_index", Kind.INT),
    ),
    versioned=False,
    block_column="block_number",
    build=lambda row: {**row, "reasonName": RejectReason(row["reason"]).name},
    source="""(
    SELECT e.args->>'executionId' AS execution_id, (e.args->>'modelId')::numeric AS model_id,
           e.args->>'user' AS user_address, e.args->>'operator' AS operator,
           (e.args->>'reason')::int AS reason, e.block_number, e.tx_hash, e.log_index
    FROM live_events e WHERE e.chain_id = {chain} AND e.event_name = 'ExecutionRejected')""",
)  # fmt: skip

SIGNED_REQUEST = Entity(
    SignedRequest, "signedRequest", "signedRequests", "signed_requests",
    (
        _c("id", "execution_id", Kind.BYTES), _c("user", "user_address", Kind.BYTES),
        _c("modelId", "model_id", Kind.BIG_INT), _c("inputDigest", "input_digest", Kind.BYTES),
        _c("paramsHash", "params_hash", Kind.BYTES), _c("priority", "priority", Kind.INT),
        _c("maxCost", "max_cost", Kind.BIG_INT), _c("nonce", "nonce", Kind.BIG_INT),
        _c("deadline", "deadline", Kind.BIG_INT), _c("signature", "signature", Kind.BYTES),
        _c("outputDigest", "output_digest", Kind.BYTES),
        _c("executed", "executed", Kind.BOOLEAN), _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES),
    ),
    versioned=False,
    block_column="block_number",
    source="""(
    SELECT e.args->>'executionId' AS execution_id, e.args->>'user' AS user_address,
           (e.args->>'modelId')::numeric AS model_id, e.args->>'inputDigest' AS input_digest,
           e.args->>'paramsHash' AS params_hash, (e.args->>'priority')::int AS priority,
           (e.args->>'maxCost')::numeric AS max_cost, (e.args->>'nonce')::numeric AS nonce,
           (e.args->>'deadline')::numeric AS deadline, e.args->>'signature' AS signature,
           e.args->>'outputDigest' AS output_digest, (e.args->>'executed')::boolean AS executed,
           e.block_number, e.tx_hash
    FROM live_events e WHERE e.chain_id = {chain} AND e.event_name = 'RequestSigned')""",
)  # fmt: skip

RATES_VERSION = Entity(
    RatesVersion, "ratesVersion", "ratesVersions", "rates_versions",
    (
        _int_id("version"), _c("gpuRate", "gpu_rate", Kind.BIG_INT),
        _c("latencyRate", "latency_rate", Kind.BIG_INT),
        _c("storageRate", "storage_rate", Kind.BIG_INT),
        _c("loadBpsPerUnit", "load_bps_per_unit", Kind.BIG_INT),
        _c("loadCapacity", "load_capacity", Kind.BIG_INT),
        _c("maxLoadBps", "max_load_bps", Kind.INT), _c("operatorBps", "operator_bps", Kind.INT),
        _c("treasuryBps", "treasury_bps", Kind.INT),
        _c("blockNumber", "block_number", Kind.BIG_INT),
        _c("transactionHash", "tx_hash", Kind.BYTES),
    ),
    versioned=False,
    block_column="block_number",
    extra=(Column("unitRate", "unit_rate", Kind.BIG_INT),
           Column("priorityBps", "priority_bps", Kind.INT)),
    build=lambda row: {**row, "unitRate": [int(v) for v in row["unitRate"]],
                       "priorityBps": [int(v) for v in row["priorityBps"]]},
    source="""(
    SELECT (e.args->>'version')::bigint AS version,
           ARRAY(SELECT jsonb_array_elements_text(e.args->'rates'->'unitRate'))::numeric[]
               AS unit_rate,
           (e.args->'rates'->>'gpuRate')::numeric AS gpu_rate,
           (e.args->'rates'->>'latencyRate')::numeric AS latency_rate,
           (e.args->'rates'->>'storageRate')::numeric AS storage_rate,
           ARRAY(SELECT jsonb_array_elements_text(e.args->'rates'->'priorityBps'))::int[]
               AS priority_bps,
           (e.args->'rates'->>'loadBpsPerUnit')::numeric AS load_bps_per_unit,
           (e.args->'rates'->>'loadCapacity')::numeric AS load_capacity,
           (e.args->'rates'->>'maxLoadBps')::int AS max_load_bps,
           (e.args->'rates'->>'operatorBps')::int AS operator_bps,
           (e.args->'rates'->>'treasuryBps')::int AS treasury_bps,
           e.block_number, e.tx_hash
    FROM live_events e WHERE e.chain_id = {chain} AND e.event_name = 'RatesSet')""",
)  # fmt: skip

ENTITIES: tuple[Entity, ...] = (
    MODEL, EXECUTION, SETTLEMENT, RATING, ACCOUNT, MODEL_ACCESS, MODEL_USAGE, ASSET,
    CURATION_SIGNAL, CURATION_SCORE,
    REWARD_EPOCH, REWARD_LEAF, CLAIM, BLOCK, REORG, REJECTED_EXECUTION, RATES_VERSION,
    SIGNED_REQUEST,
)  # fmt: skip
BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}
