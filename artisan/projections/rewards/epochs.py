"""Reward epochs: the schedule, the pool of each, and the rule's inputs as of the end block.

Epoch ``e`` (1, 2, ...) covers blocks ``genesis + (e-1)*length`` to ``genesis + e*length - 1``.
Its inputs come from the projections as of its end block: fees from ``proj_executions`` in
the epoch, ratings from ``proj_ratings`` up to the end, models (parent, owner) from the
versions of ``proj_models`` valid at the end. ``memory_inputs`` reads the same from the
in-memory twins, for ``verify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from artisan.projections.executions import MemoryExecutions
from artisan.projections.models import MemoryModels
from artisan.projections.rewards.rule import EpochInputs, ModelAtEnd


@dataclass(frozen=True, slots=True)
class RewardConfig:
    """How epochs are cut and funded: the pool of an epoch is ``pools[e]`` or the default."""

    genesis_block: int
    epoch_length: int
    default_pool: int
    pools: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.genesis_block < 0 or self.epoch_length < 1 or self.default_pool < 0:
            raise ValueError("genesis_block >= 0, epoch_length >= 1 and default_pool >= 0")

    def pool(self, epoch: int) -> int:
        return self.pools.get(epoch, self.default_pool)

    def bounds(self, epoch: int) -> tuple[int, int]:
        """(first block, last block) of ``epoch``."""
        if epoch < 1:
            raise ValueError("epochs are numbered from 1")
        first = self.genesis_block + (epoch - 1) * self.epoch_length
        return first, first + self.epoch_length - 1


FEES = """
SELECT model_id, sum(cost) FROM proj_executions
WHERE block_number BETWEEN %s AND %s GROUP BY model_id
"""
RATINGS = """
SELECT model_id, sum(rating), count(*) FROM proj_ratings WHERE block_number <= %s GROUP BY model_id
"""
MODELS_AT_END = """
SELECT model_id, parent_id, owner FROM proj_models WHERE block_range @> %s::bigint
"""


def db_inputs(conn: psycopg.Connection[Any], config: RewardConfig, epoch: int) -> EpochInputs:
    """The inputs of ``epoch`` from the projections (which must have passed its end block)."""
    first, last = config.bounds(epoch)
    fees = {int(m): int(f) for m, f in conn.execute(FEES, (first, last))}
    ratings = {int(m): (int(s), int(n)) for m, s, n in conn.execute(RATINGS, (last,))}
    models = {int(m): ModelAtEnd(int(p), o) for m, p, o in conn.execute(MODELS_AT_END, (last,))}
    return EpochInputs(epoch, config.pool(epoch), models, fees, ratings)


def memory_inputs(
    models: MemoryModels, executions: MemoryExecutions, config: RewardConfig, epoch: int
) -> EpochInputs:
    """The same inputs from in-memory twins fed with the chain's events."""
    first, last = config.bounds(epoch)
    fees: dict[int, int] = {}
    for row in executions.executions.values():
        model_id, cost, block = row[1], row[13], row[15]
        if first <= block <= last:
            fees[model_id] = fees.get(model_id, 0) + cost
    ratings: dict[int, tuple[int, int]] = {}
    for row in executions.ratings.values():
        model_id, rating, block = row[1], row[3], row[4]
        if block <= last:
            total, count = ratings.get(model_id, (0, 0))
            ratings[model_id] = (total + rating, count + 1)
    at_end: dict[int, ModelAtEnd] = {}
    for model_id in models.ids():
        model = models.at(model_id, last)
        if model is not None:
            at_end[model_id] = ModelAtEnd(model.parent_id, model.owner)
    return EpochInputs(epoch, config.pool(epoch), at_end, fees, ratings)
