"""``rewardReport(epoch)``: an epoch's reward report (``projections.rewards.report``) in the
request's snapshot, and the same rows as CSV for ``/reports/rewards/{epoch}.csv``."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from artisan.graphql.errors import QueryError
from artisan.graphql.scalars import BigInt, Bytes
from artisan.graphql.session import Session
from artisan.projections.rewards import report
from artisan.projections.rewards.report import EpochReport, NoSuchEpoch


@strawberry.type(description="One remix descendant's part of a model's engagement")
class Contribution:
    descendant: strawberry.ID
    generation: int
    amount: BigInt = strawberry.field(description="the descendant's fees >> generation")


@strawberry.type(description="A model's line of an epoch's reward report")
class RewardModelLine:
    modelId: strawberry.ID
    owner: Bytes
    parentId: BigInt
    fees: BigInt
    descendantsFees: BigInt
    engagement: BigInt
    ratingSum: int
    ratingCount: int
    ratingPpm: int
    weight: BigInt
    sharePpm: int
    amount: BigInt
    contributions: list[Contribution]


@strawberry.type(description="A creator's line of an epoch's reward report")
class RewardCreatorLine:
    account: Bytes
    models: list[strawberry.ID]
    amount: BigInt
    storedAmount: BigInt | None
    proof: list[Bytes]
    claimed: bool
    claimedBlock: BigInt | None


@strawberry.type(description="An epoch's rewards with every number explained")
class RewardReport:
    epoch: int
    fromBlock: BigInt
    toBlock: BigInt
    pool: BigInt
    total: BigInt
    storedTotal: BigInt
    storedRoot: Bytes | None
    recomputedRoot: Bytes | None
    publishedRoot: Bytes | None
    publishedBlock: BigInt | None
    rootMatches: bool
    models: list[RewardModelLine]
    creators: list[RewardCreatorLine]


async def of(session: Session, epoch: int) -> EpochReport:
    try:
        return await report.read(session.rows, epoch)
    except NoSuchEpoch as exc:
        raise QueryError(str(exc)) from None


async def reward_report(info: Info, epoch: int) -> RewardReport:
    """The report of a closed epoch: per model and per creator, with the roots compared."""
    found = await of(info.context, epoch)
    values: dict[str, Any] = {
        "epoch": found.epoch, "fromBlock": found.from_block, "toBlock": found.to_block,
        "pool": found.pool, "total": found.total, "storedTotal": found.stored_total,
        "storedRoot": found.stored_root, "recomputedRoot": found.recomputed_root,
        "publishedRoot": found.published_root, "publishedBlock": found.published_block,
        "rootMatches": found.root_matches, "models": [_model(line) for line in found.models],
        "creators": [_creator(line) for line in found.creators],
    }  # fmt: skip
    return RewardReport(**values)


def _model(line: report.ModelLine) -> RewardModelLine:
    values: dict[str, Any] = {
        "modelId": str(line.model_id), "owner": line.owner, "parentId": line.parent_id,
        "fees": line.fees, "descendantsFees": line.descendants_fees,
        "engagement": line.engagement, "ratingSum": line.rating_sum,
        "ratingCount": line.rating_count, "ratingPpm": line.rating_ppm, "weight": line.weight,
        "sharePpm": line.share_ppm, "amount": line.amount,
        "contributions": [_contribution(part) for part in line.contributions],
    }  # fmt: skip
    return RewardModelLine(**values)


def _contribution(part: tuple[int, int, int]) -> Contribution:
    values: dict[str, Any] = {"descendant": str(part[0]), "generation": part[1],
                              "amount": part[2]}  # fmt: skip
    return Contribution(**values)


def _creator(line: report.CreatorLine) -> RewardCreatorLine:
    values: dict[str, Any] = {
        "account": line.account, "models": [str(m) for m in line.models],
        "amount": line.amount, "storedAmount": line.stored_amount, "proof": list(line.proof),
        "claimed": line.claimed, "claimedBlock": line.claimed_block,
    }  # fmt: skip
    return RewardCreatorLine(**values)
