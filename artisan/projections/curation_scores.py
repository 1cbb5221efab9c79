"""Curation scores as of a block, and rankings: the rule of the issue, in integers.

    score(target, B) = sum over signals active at B of
                       weight >> ((B - signalBlock) // halfLifeBlocks)
    weight           = kindWeight[kind] * isqrt(amount)        (LIKE 1, STAR 2, FORK 3, CITE 4)

A signal is active at B if it was signaled at or before B and not unsignaled at or before B.
``score_of`` is the rule over in-memory signals; ``scores_at`` evaluates the same rule in one
aggregate over ``proj_signals`` (weights are stored exact, shifts are exact numeric division).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from artisan.projections.curation import SignalRow

DEFAULT_HALF_LIFE = 50_400


@dataclass(frozen=True, slots=True)
class TargetScore:
    """One target's score as of a block, with counts of active signals per kind."""

    target_kind: int
    target: str
    score: int
    likes: int
    stars: int
    forks: int
    cites: int
    curators: int


def decayed(weight: int, signal_block: int, block: int, half_life: int) -> int:
    """A signal's weight halved (floor) once per full half-life elapsed since it was made."""
    return weight >> ((block - signal_block) // half_life)


def score_of(signals: Iterable[SignalRow], block: int, half_life: int) -> list[TargetScore]:
    """Scores as of ``block`` from the signals active at ``block`` (the caller selects them)."""
    score: dict[tuple[int, str], int] = {}
    kinds: dict[tuple[int, str], list[int]] = {}
    curators: dict[tuple[int, str], set[str]] = {}
    for s in signals:
        target = (s.target_kind, s.target)
        score[target] = score.get(target, 0) + decayed(s.weight, s.signal_block, block, half_life)
        kinds.setdefault(target, [0, 0, 0, 0])[s.kind] += 1
        curators.setdefault(target, set()).add(s.curator)
    out = []
    for t in sorted(score):
        likes, stars, forks, cites = kinds[t]
        out.append(TargetScore(t[0], t[1], score[t], likes, stars, forks, cites, len(curators[t])))
    return out


# Weights are below 2**131 (4 * isqrt of a uint256), so any shift of 256 or more gives 0; the
# CASE keeps numeric power() away from huge exponents.
_SCORES = """
SELECT target_kind, target,
    sum(CASE WHEN (%(block)s - signal_block) / %(half)s >= 256 THEN 0
             ELSE div(weight, power(2::numeric, (%(block)s - signal_block) / %(half)s)) END),
    count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1),
    count(*) FILTER (WHERE kind = 2), count(*) FILTER (WHERE kind = 3),
    count(DISTINCT curator)
FROM proj_signals
WHERE active AND block_range @> %(block)s::bigint
    AND (%(kind)s::smallint IS NULL OR target_kind = %(kind)s::smallint)
GROUP BY target_kind, target
"""


def scores_at(
    conn: psycopg.Connection[Any],
    block: int,
    half_life: int = DEFAULT_HALF_LIFE,
    target_kind: int | None = None,
) -> list[TargetScore]:
    """Every target's score as of ``block`` (optionally one kind), ordered by target."""
    if half_life < 1:
        raise ValueError("half_life must be at least one block")
    params = {"block": block, "half": half_life, "kind": target_kind}
    rows = conn.execute(_SCORES, params).fetchall()
    scores = [
        TargetScore(
            int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7])
        )
        for r in rows
    ]
    return sorted(scores, key=lambda s: (s.target_kind, s.target))


def ranking(
    conn: psycopg.Connection[Any],
    target_kind: int,
    block: int,
    limit: int = 100,
    half_life: int = DEFAULT_HALF_LIFE,
) -> list[TargetScore]:
    """Targets of one kind (0 models, 1 assets) by score, highest first; ties by target."""
    scores = scores_at(conn, block, half_life, target_kind)
    return sorted(scores, key=lambda s: (-s.score, _target_order(s)))[:limit]


def _target_order(score: TargetScore) -> tuple[int, str]:
    # Model ids are decimal strings: order them as numbers, so that model 9 precedes model 10.
    if score.target_kind == 0:
        return int(score.target), ""
    return 0, score.target
