"""Time series and rankings over the ``usage`` projection's rollup rows, as of the block.

- ``executionStats(interval: hour | day, where: {model, user, timestamp_gte, timestamp_lt},
  first, skip, orderDirection, block)``: per bucket (the interval's start, unix seconds UTC)
  the executions, fees, GPU microseconds and distinct users, in total or for one model or one
  user (an account's spend over a window is its buckets' fees). Newest first unless asked.
- ``topModels(by: USAGE | FEES | CURATION, since, until, first, block)``: models by executions
  or fees in a window of block timestamps, or by curation score as of the block.
"""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from psycopg import sql
from strawberry.types import Info

from artisan.graphql import blocks, reads
from artisan.graphql.arguments import Block_height, OrderDirection
from artisan.graphql.entities import CURATION_SCORE, Model
from artisan.graphql.errors import QueryError
from artisan.graphql.grammar import MAX_FIRST, MAX_SKIP, page
from artisan.graphql.scalars import BigInt, Bytes
from artisan.graphql.session import Session
from artisan.projections.rewards import report

SECONDS = {"hour": 3600, "day": 86_400}


@strawberry.enum(name="StatsInterval")
class StatsInterval(enum.Enum):
    hour = "hour"
    day = "day"


@strawberry.enum(name="TopModelsBy")
class TopModelsBy(enum.Enum):
    USAGE = "USAGE"
    FEES = "FEES"
    CURATION = "CURATION"
    REWARDS = "REWARDS"


MAX_REWARD_EPOCHS = 100  # epochs one REWARDS ranking recomputes (each a reward report)

# The epochs closed here by the block whose end falls in the window: an epoch ends at the time
# of its last block (or of the last block the store keeps before it: empty blocks are pruned).
_EPOCHS = """
SELECT e.epoch FROM reward_epochs e
CROSS JOIN LATERAL (
    SELECT b.timestamp FROM blocks b
    WHERE b.chain_id = %(chain)s AND b.number <= e.to_block AND b.orphaned_by IS NULL
    ORDER BY b.number DESC LIMIT 1) ended
WHERE e.to_block <= %(block)s
  AND (%(since)s::bigint IS NULL OR ended.timestamp >= %(since)s::bigint)
  AND (%(until)s::bigint IS NULL OR ended.timestamp < %(until)s::bigint)
ORDER BY e.epoch LIMIT %(cap)s
"""


@strawberry.input(name="ExecutionStats_filter")
class ExecutionStatsFilter:
    model: strawberry.ID | None = None
    user: Bytes | None = None
    timestamp_gte: BigInt | None = None
    timestamp_lt: BigInt | None = None


@strawberry.type(description="One bucket of executions: an hour or a day, UTC")
class ExecutionStats:
    id: str
    timestamp: BigInt = strawberry.field(description="The bucket's start, unix seconds")
    interval: StatsInterval
    executions: int
    fees: BigInt
    gpuMicros: BigInt
    users: int = strawberry.field(description="Distinct users in the bucket")


async def _model(root: TopModel, info: Info) -> Model | None:
    found: Model | None = await info.context.load("Model", root._at, int(root.modelId))
    return found


@strawberry.type(description="A model's rank by usage, fees or curation")
class TopModel:
    modelId: strawberry.ID
    executions: int
    fees: BigInt
    users: int
    score: BigInt | None = strawberry.field(description="The curation score (by CURATION)")
    rewards: BigInt | None = strawberry.field(
        description="Its reward over the window's closed epochs (by REWARDS; `fees` then are"
        " its fees in those epochs)", default=None,
    )  # fmt: skip
    _at: strawberry.Private[int]
    model: Model | None = strawberry.field(resolver=_model, description="Its terms at the block")


async def _by_rewards(
    session: Session, since: BigInt | None, until: BigInt | None, at: int, first: int
) -> list[TopModel]:
    """Models by the sum of their reward lines (the reward report's rule, epoch by epoch) over
    the epochs closed here by the block that ended in [since, until)."""
    params = {"since": None if since is None else int(since),
              "until": None if until is None else int(until), "block": at,
              "cap": MAX_REWARD_EPOCHS + 1}  # fmt: skip
    epochs = [int(r["epoch"]) for r in await session.rows(_EPOCHS, params)]
    if len(epochs) > MAX_REWARD_EPOCHS:
        raise QueryError(f"topModels(by: REWARDS) recomputes at most {MAX_REWARD_EPOCHS} epochs:"
                         " narrow `since` and `until`")  # fmt: skip
    rewards: dict[int, int] = {}
    fees: dict[int, int] = {}
    for epoch in epochs:
        for line in (await report.read(session.rows, epoch)).models:
            rewards[line.model_id] = rewards.get(line.model_id, 0) + line.amount
            fees[line.model_id] = fees.get(line.model_id, 0) + line.fees
    ranked = sorted(rewards, key=lambda m: (-rewards[m], m))[:first]
    return [TopModel(modelId=strawberry.ID(str(m)), executions=0, fees=BigInt(fees[m]), users=0,
                     score=None, rewards=BigInt(rewards[m]), _at=at) for m in ranked]  # fmt: skip


def _window(where: ExecutionStatsFilter | None) -> tuple[list[sql.Composable], dict[str, Any]]:
    conditions: list[sql.Composable] = [sql.SQL("block_number <= %(block)s")]
    params: dict[str, Any] = {}
    if where is None:
        return conditions, params
    if where.model is not None:
        try:
            params["model"] = int(where.model)
        except ValueError:
            raise QueryError(f"`model` takes a model id, not `{where.model}`") from None
        conditions.append(sql.SQL("model_id = %(model)s"))
    if where.user is not None:
        params["user"] = str(where.user).lower()
        conditions.append(sql.SQL("user_address = %(user)s"))
    if where.timestamp_gte is not None:
        params["gte"] = int(where.timestamp_gte)
        conditions.append(sql.SQL("hour >= %(gte)s / 3600 * 3600"))
    if where.timestamp_lt is not None:
        params["lt"] = int(where.timestamp_lt)
        conditions.append(sql.SQL("hour < %(lt)s"))
    return conditions, params


async def execution_stats(
    info: Info, interval: StatsInterval, where: ExecutionStatsFilter | None = None,
    first: int | None = 100, skip: int | None = 0,
    orderDirection: OrderDirection | None = None, block: Block_height | None = None,
) -> list[ExecutionStats]:  # fmt: skip
    """Executions, fees, GPU time and distinct users per hour or day."""
    limits = page(first, skip, MAX_FIRST, MAX_SKIP)
    at = await blocks.as_of(info.context, block)
    conditions, params = _window(where)
    size = SECONDS[interval.value]
    ascending = orderDirection is not None and orderDirection.value == "asc"
    query = sql.SQL(
        "SELECT hour / {size} * {size} AS bucket, sum(executions) AS executions,"
        " sum(fees) AS fees, sum(gpu_micros) AS gpu, count(DISTINCT user_address) AS users"
        " FROM proj_usage WHERE {where} GROUP BY 1 ORDER BY 1 {way} LIMIT %(limit)s"
        " OFFSET %(skip)s"
    ).format(size=sql.Literal(size), where=sql.SQL(" AND ").join(conditions),
             way=sql.SQL("ASC" if ascending else "DESC"))  # fmt: skip
    params.update(block=at, limit=limits.first, skip=limits.skip)
    rows = await info.context.rows(query, params)
    return [ExecutionStats(id=f"{interval.value}-{int(r['bucket'])}", timestamp=r["bucket"],
                           interval=interval, executions=int(r["executions"]), fees=r["fees"],
                           gpuMicros=r["gpu"], users=int(r["users"]))
            for r in rows]  # fmt: skip


async def top_models(
    info: Info, by: TopModelsBy, since: BigInt | None = None, until: BigInt | None = None,
    first: int | None = 10, block: Block_height | None = None,
) -> list[TopModel]:  # fmt: skip
    """Models by executions or fees in [since, until) (block timestamps), or by curation
    score as of the block."""
    limits = page(first, 0, MAX_FIRST, 0)
    at = await blocks.as_of(info.context, block)
    if by is TopModelsBy.CURATION:
        scored = reads.select(CURATION_SCORE, {"targetKind": 0}, reads.Order("score", True), at,
                              limit=limits.first)  # fmt: skip
        rows = await reads.fetch(info.context, scored)
        return [TopModel(modelId=strawberry.ID(str(r["target"])), executions=0, fees=BigInt(0),
                         users=0, score=r["score"], _at=at) for r in rows]  # fmt: skip
    if by is TopModelsBy.REWARDS:
        return await _by_rewards(info.context, since, until, at, limits.first)
    window = ExecutionStatsFilter(timestamp_gte=since, timestamp_lt=until)
    conditions, params = _window(window)
    rank = "sum(executions)" if by is TopModelsBy.USAGE else "sum(fees)"
    query = sql.SQL(
        "SELECT model_id, sum(executions) AS executions, sum(fees) AS fees,"
        " count(DISTINCT user_address) AS users FROM proj_usage WHERE {where}"
        " GROUP BY model_id ORDER BY {rank} DESC, model_id LIMIT %(limit)s"
    ).format(where=sql.SQL(" AND ").join(conditions), rank=sql.SQL(rank))
    params.update(block=at, limit=limits.first)
    rows = await info.context.rows(query, params)
    return [TopModel(modelId=strawberry.ID(str(r["model_id"])), executions=int(r["executions"]),
                     fees=r["fees"], users=int(r["users"]), score=None, _at=at)
            for r in rows]  # fmt: skip
