"""The reward rule: an epoch's pool split over creators by engagement and rating.

Pure integer arithmetic, written exactly as docs/REWARDS.md states it:

    engagement(m) = fees(m) + sum over remix descendants d of fees(d) >> generation(m, d)
    rating(m)     = ((10 * 3 + ratingSum(m)) * 1_000_000) // ((10 + ratingCount(m)) * 5)
    weight(m)     = engagement(m) * rating(m) // 1_000_000
    reward(m)     = pool * weight(m) // sum of all weights            (0 if that sum is 0)
    amount(a)     = sum of reward(m) over the models a owns at the epoch's end block

Leaves are (epoch, account, amount) for every account with amount > 0, sorted by account
(lowercase hex, which is numeric order for addresses). The floor divisions leave at most one
wei per model of the pool unpaid; the epoch publishes the sum of the leaves, not the pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from artisan.domain.merkle import RewardLeaf

PPM = 1_000_000
PRIOR_RATING = 3
PRIOR_WEIGHT = 10
MAX_RATING = 5


@dataclass(frozen=True, slots=True)
class ModelAtEnd:
    """What the rule needs of a model at the epoch's end block."""

    parent_id: int  # 0 for an original
    owner: str


@dataclass(frozen=True, slots=True)
class EpochInputs:
    """Everything an epoch's rewards depend on."""

    epoch: int
    pool: int
    models: Mapping[int, ModelAtEnd]  # every model registered by the end block
    fees: Mapping[int, int]  # total cost of the model's executions inside the epoch
    ratings: Mapping[int, tuple[int, int]]  # (sum, count) of ratings up to the end block


def rating_ppm(total: int, count: int) -> int:
    """Bayesian average rating in ppm of the maximum: prior 3 of 5 with weight 10."""
    return ((PRIOR_WEIGHT * PRIOR_RATING + total) * PPM) // ((PRIOR_WEIGHT + count) * MAX_RATING)


def engagement(models: Mapping[int, ModelAtEnd], fees: Mapping[int, int]) -> dict[int, int]:
    """Each model's own fees plus its remix descendants' fees, halved per generation."""
    out = dict.fromkeys(models, 0)
    for model_id, fee in fees.items():
        out[model_id] = out.get(model_id, 0) + fee
        generation, ancestor = 1, models[model_id].parent_id if model_id in models else 0
        while ancestor != 0:
            out[ancestor] = out.get(ancestor, 0) + (fee >> generation)
            generation += 1
            ancestor = models[ancestor].parent_id if ancestor in models else 0
    return out


def model_weights(inputs: EpochInputs) -> dict[int, int]:
    """weight(m) for every model with engagement."""
    weights: dict[int, int] = {}
    for model_id, value in engagement(inputs.models, inputs.fees).items():
        total, count = inputs.ratings.get(model_id, (0, 0))
        weights[model_id] = value * rating_ppm(total, count) // PPM
    return weights


def model_rewards(inputs: EpochInputs) -> dict[int, int]:
    """reward(m) for every model with a positive weight."""
    weights = model_weights(inputs)
    denominator = sum(weights.values())
    if denominator == 0:
        return {}
    return {m: inputs.pool * w // denominator for m, w in weights.items() if w > 0}


def leaves(inputs: EpochInputs) -> list[RewardLeaf]:
    """The epoch's leaves: one per owner with a positive amount, sorted by account."""
    amounts: dict[str, int] = {}
    for model_id, reward in model_rewards(inputs).items():
        owner = inputs.models[model_id].owner if model_id in inputs.models else None
        if owner is not None and reward > 0:
            amounts[owner] = amounts.get(owner, 0) + reward
    return [RewardLeaf(inputs.epoch, account, amounts[account]) for account in sorted(amounts)]
