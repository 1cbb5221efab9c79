"""An epoch's reward report: every number of the reward rule, explained, from the projections.

Per model: its fees in the epoch, each remix descendant's contribution to its engagement
(the descendant's fees halved once per generation), its rating sum and count and the Bayesian
rating they make, its weight, its share of all weights (ppm) and its reward. Per creator: the
models they owned at the epoch's end, their amount, their Merkle proof and whether and when
they claimed it. Beside them the epoch: its blocks, pool, the total of the leaves, the root
stored when it closed, the root published on chain, and the root recomputed here from the
rule's leaves: an auditor reads at once whether all three agree.

The figures are recomputed by ``rule`` from what the projections hold (``epochs`` queries),
so the report explains the stored leaves rather than echoing them; the tests hold its rows
equal to ``reward_leaves``. Reads go through ``fetch`` (a query and its parameters to rows as
mappings), so the API reads it inside its request's snapshot and the CLI on a connection of
its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from artisan.domain import merkle
from artisan.projections.rewards import rule
from artisan.projections.rewards.epochs import FEES, MODELS_AT_END, RATINGS
from artisan.projections.rewards.rule import EpochInputs, ModelAtEnd

Fetch = Callable[[str, Sequence[Any]], Awaitable[list[dict[str, Any]]]]


class NoSuchEpoch(LookupError):
    """The epoch was not closed here (its tree and proofs are what a report explains)."""


@dataclass(frozen=True, slots=True)
class ModelLine:
    epoch: int
    model_id: int
    owner: str
    parent_id: int
    fees: int
    descendants_fees: int  # the descendants' part of the engagement, halved per generation
    engagement: int
    rating_sum: int
    rating_count: int
    rating_ppm: int
    weight: int
    share_ppm: int  # of the sum of all weights
    amount: int
    contributions: tuple[tuple[int, int, int], ...]  # (descendant, generation, contribution)


@dataclass(frozen=True, slots=True)
class CreatorLine:
    epoch: int
    account: str
    models: tuple[int, ...]  # owned at the epoch's end, with a positive reward
    amount: int
    stored_amount: int | None  # the leaf stored when the epoch closed (None: no leaf)
    proof: tuple[str, ...]
    claimed: bool
    claimed_block: int | None


@dataclass(frozen=True, slots=True)
class EpochReport:
    epoch: int
    from_block: int
    to_block: int
    pool: int
    total: int  # the sum of the recomputed leaves
    stored_total: int
    stored_root: str | None
    recomputed_root: str | None
    published_root: str | None  # on chain (EpochPublished), None if not published
    published_block: int | None
    models: tuple[ModelLine, ...]
    creators: tuple[CreatorLine, ...]

    @property
    def root_matches(self) -> bool:
        """The recomputed root is the stored one, and the published one where published."""
        agree = self.recomputed_root == self.stored_root
        return agree and (self.published_root is None or self.published_root == self.stored_root)


def contributions(inputs: EpochInputs) -> dict[int, list[tuple[int, int, int]]]:
    """For each model, each descendant with fees: (descendant, generation, fees >> generation),
    the terms ``rule.engagement`` sums."""
    out: dict[int, list[tuple[int, int, int]]] = {}
    for model_id, fee in sorted(inputs.fees.items()):
        generation = 1
        ancestor = inputs.models[model_id].parent_id if model_id in inputs.models else 0
        while ancestor != 0:
            out.setdefault(ancestor, []).append((model_id, generation, fee >> generation))
            generation += 1
            ancestor = inputs.models[ancestor].parent_id if ancestor in inputs.models else 0
    return out


async def read(fetch: Fetch, epoch: int) -> EpochReport:
    """The report of ``epoch``, which must have been closed here."""
    rows = await fetch(
        "SELECT e.from_block, e.to_block, e.pool, e.total, e.root, p.root AS published_root,"
        " p.block_number AS published_block FROM reward_epochs e"
        " LEFT JOIN proj_epochs_published p ON p.epoch = e.epoch WHERE e.epoch = %s",
        (epoch,),
    )
    if not rows:
        raise NoSuchEpoch(f"epoch {epoch} has not been closed here: no reward report for it")
    head = rows[0]
    first, last = int(head["from_block"]), int(head["to_block"])
    fees = {int(r["model_id"]): int(r["sum"]) for r in await fetch(FEES, (first, last))}
    ratings = {int(r["model_id"]): (int(r["sum"]), int(r["count"]))
               for r in await fetch(RATINGS, (last,))}  # fmt: skip
    models = {int(r["model_id"]): ModelAtEnd(int(r["parent_id"]), str(r["owner"]))
              for r in await fetch(MODELS_AT_END, (last,))}  # fmt: skip
    inputs = EpochInputs(epoch, int(head["pool"]), models, fees, ratings)
    leaves = await fetch(
        "SELECT l.account, l.amount, l.proof, c.block_number AS claimed_block"
        " FROM reward_leaves l LEFT JOIN proj_claims c ON c.epoch = l.epoch"
        " AND c.account = l.account WHERE l.epoch = %s",
        (epoch,),
    )
    return explain(inputs, head, {str(r["account"]): r for r in leaves})


def explain(
    inputs: EpochInputs, head: Mapping[str, Any], stored: Mapping[str, Mapping[str, Any]]
) -> EpochReport:
    """The report's lines from the rule's inputs and what the epoch stored."""
    engagement = rule.engagement(inputs.models, inputs.fees)
    weights = rule.model_weights(inputs)
    rewards = rule.model_rewards(inputs)
    denominator = sum(weights.values())
    parts = contributions(inputs)
    lines = []
    for model_id in sorted(m for m in weights if weights[m] > 0 or inputs.fees.get(m)):
        at_end = inputs.models.get(model_id, ModelAtEnd(0, ""))
        total, count = inputs.ratings.get(model_id, (0, 0))
        own = inputs.fees.get(model_id, 0)
        weight = weights.get(model_id, 0)
        lines.append(ModelLine(
            inputs.epoch, model_id, at_end.owner, at_end.parent_id, own,
            engagement.get(model_id, 0) - own, engagement.get(model_id, 0), total, count,
            rule.rating_ppm(total, count), weight,
            weight * rule.PPM // denominator if denominator else 0, rewards.get(model_id, 0),
            tuple(parts.get(model_id, ())),
        ))  # fmt: skip
    leaves = rule.leaves(inputs)
    tree = merkle.build(leaves) if leaves else None
    owned: dict[str, list[int]] = {}
    for line in lines:
        if line.amount > 0:
            owned.setdefault(line.owner, []).append(line.model_id)
    creators = []
    for i, leaf in enumerate(leaves):
        kept = stored.get(leaf.account)
        proof = tuple("0x" + p.hex() for p in tree.proof(i)) if tree else ()
        claimed_block = None if kept is None or kept["claimed_block"] is None else int(
            kept["claimed_block"])  # fmt: skip
        creators.append(CreatorLine(
            inputs.epoch, leaf.account, tuple(owned.get(leaf.account, ())), leaf.amount,
            None if kept is None else int(kept["amount"]), proof, claimed_block is not None,
            claimed_block,
        ))  # fmt: skip
    return EpochReport(
        inputs.epoch, int(head["from_block"]), int(head["to_block"]), inputs.pool,
        sum(leaf.amount for leaf in leaves), int(head["total"]), head["root"],
        None if tree is None else "0x" + tree.root.hex(), head["published_root"],
        None if head["published_block"] is None else int(head["published_block"]),
        tuple(lines), tuple(creators),
    )  # fmt: skip


def to_csv(rows: Sequence[ModelLine] | Sequence[CreatorLine]) -> str:
    """The lines as CSV, one column per field (lists joined with spaces)."""
    out = io.StringIO()
    if not rows:
        return ""
    names = [f.name for f in fields(rows[0])]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = asdict(row)
        writer.writerow([" ".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v)
                                  for v in values[n]) if isinstance(values[n], tuple)
                         else "" if values[n] is None else values[n] for n in names])  # fmt: skip
    return out.getvalue()
