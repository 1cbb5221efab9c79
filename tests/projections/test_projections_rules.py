"""The reward rule and the curation score agree with straightforward reference versions."""

from __future__ import annotations

from math import isqrt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artisan.projections.curation import CurationProjection, SignalRow
from artisan.projections.curation_scores import TargetScore, ranking, score_of, scores_at
from artisan.projections.rewards.rule import EpochInputs, ModelAtEnd, leaves
from artisan.projections.runner import Runner
from artisan.storage.database import Database
from artisan.testing.seed import SeedWriter

from .support import CHAIN_ID, custom_blocks, events_of, reset_store, write

OWNERS = ["0x" + f"{i:040x}" for i in (7, 3, 0xBEEF, 0xA11CE)]


# -- reward rule ------------------------------------------------------------------------------


def reference_leaves(inputs: EpochInputs) -> list[tuple[str, int]]:
    """The issue's rule read literally: descendants found by walking every model's children."""

    def children(m: int) -> list[int]:
        return [d for d, info in inputs.models.items() if info.parent_id == m]

    def engagement(m: int) -> int:
        total, frontier, generation = inputs.fees.get(m, 0), children(m), 1
        while frontier:
            total += sum(inputs.fees.get(d, 0) >> generation for d in frontier)
            frontier = [c for d in frontier for c in children(d)]
            generation += 1
        return total

    def rating(m: int) -> int:
        s, n = inputs.ratings.get(m, (0, 0))
        return ((10 * 3 + s) * 1_000_000) // ((10 + n) * 5)

    weight = {m: engagement(m) * rating(m) // 1_000_000 for m in inputs.models}
    total = sum(weight.values())
    amounts: dict[str, int] = {}
    for m, w in weight.items():
        reward = inputs.pool * w // total if total else 0
        owner = inputs.models[m].owner
        amounts[owner] = amounts.get(owner, 0) + reward
    return sorted((a, x) for a, x in amounts.items() if x > 0)


@st.composite
def epoch_inputs(draw: st.DrawFn) -> EpochInputs:
    count = draw(st.integers(0, 14))
    models: dict[int, ModelAtEnd] = {}
    for m in range(1, count + 1):
        parent = draw(st.integers(0, m - 1))  # a remix of an earlier model, or an original
        models[m] = ModelAtEnd(parent, draw(st.sampled_from(OWNERS)))
    ids = st.sampled_from(sorted(models)) if models else st.nothing()
    fees = draw(st.dictionaries(ids, st.integers(0, 10**24), max_size=count))
    ratings: dict[int, tuple[int, int]] = {}
    for m in draw(st.lists(ids, max_size=count, unique=True)):
        n = draw(st.integers(1, 40))
        ratings[m] = (draw(st.integers(n, 5 * n)), n)
    pool = draw(st.integers(0, 10**27))
    return EpochInputs(draw(st.integers(1, 10**6)), pool, models, fees, ratings)


@settings(max_examples=300, deadline=None)
@given(inputs=epoch_inputs())
def test_reward_rule_matches_the_reference(inputs: EpochInputs) -> None:
    """Leaves equal the literal rule's, sorted by account, and never pay out more than the
    pool (floor division leaves under one wei per model)."""
    got = leaves(inputs)
    assert [(leaf.account, leaf.amount) for leaf in got] == reference_leaves(inputs)
    assert all(leaf.epoch == inputs.epoch for leaf in got)
    paid = sum(leaf.amount for leaf in got)
    assert paid <= inputs.pool
    if got:
        assert inputs.pool - paid < len(inputs.models)


# -- curation score ---------------------------------------------------------------------------

# One signal as (block, curator, target kind, target, kind, amount, unsignal after n blocks).
SIGNALS = st.lists(
    st.tuples(
        st.integers(1, 30),
        st.sampled_from(OWNERS),
        st.integers(0, 1),
        st.integers(1, 3),
        st.integers(0, 3),
        st.one_of(st.integers(1, 10**6), st.integers(1, 2**128 - 1)),
        st.one_of(st.none(), st.integers(0, 10)),
    ),
    min_size=1,
    max_size=25,
)
Signal = tuple[int, str, int, int, int, int, int | None]


def reference_scores(signals: list[Signal], block: int, half_life: int) -> list[TargetScore]:
    """The issue's formula over the signals active at ``block``."""
    score: dict[tuple[int, str], int] = {}
    kinds: dict[tuple[int, str], list[int]] = {}
    curators: dict[tuple[int, str], set[str]] = {}
    for signaled, curator, target_kind, target, kind, amount, after in signals:
        gone = None if after is None else signaled + after
        if signaled > block or (gone is not None and gone <= block):
            continue
        key = (target_kind, str(target) if target_kind == 0 else f"0x{target:064x}")
        shift = (block - signaled) // half_life
        score[key] = score.get(key, 0) + (((1, 2, 3, 4)[kind] * isqrt(amount)) >> shift)
        kinds.setdefault(key, [0, 0, 0, 0])[kind] += 1
        curators.setdefault(key, set()).add(curator)
    out = []
    for key in sorted(score):
        likes, stars, forks, cites = kinds[key]
        out.append(TargetScore(*key, score[key], likes, stars, forks, cites, len(curators[key])))
    return out


def signal_blocks(signals: list[Signal]) -> list[list[tuple[str, dict[str, object]]]]:
    per_block: list[list[tuple[str, dict[str, object]]]] = [[] for _ in range(45)]
    for i, (signaled, curator, target_kind, target, kind, amount, after) in enumerate(signals):
        raw = f"0x{target:064x}"
        per_block[signaled - 1].append(
            ("Signaled", {"signalId": i + 1, "curator": curator, "targetKind": target_kind,
                          "target": raw, "kind": kind, "amount": amount})
        )  # fmt: skip
        if after is not None:
            per_block[signaled + after - 1].append(
                ("Unsignaled", {"signalId": i + 1, "curator": curator, "amount": amount})
            )
    # Within a block, a signal's Unsignaled must follow its Signaled: stable sort by kind.
    return [sorted(b, key=lambda e: e[0] == "Unsignaled") for b in per_block]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    signals=SIGNALS,
    half_life=st.integers(1, 12),
    blocks=st.lists(st.integers(1, 45), min_size=1, max_size=4),
)
def test_curation_scores_match_the_reference(
    store: Database, signals: list[Signal], half_life: int, blocks: list[int]
) -> None:
    """Scores as of any block, from Postgres and from the pure rule, equal the formula's; the
    ranking orders them by score."""
    reset_store(store)
    with SeedWriter(store, CHAIN_ID) as writer:
        write(writer, custom_blocks(signal_blocks(signals)))
    projection = CurationProjection()
    with Runner(store, CHAIN_ID, [projection]) as runner:
        runner.catch_up()
    twin = projection.memory()
    for event in events_of(custom_blocks(signal_blocks(signals))):
        twin.apply(event)
    with store.connect() as conn:
        for block in blocks:
            want = reference_scores(signals, block, half_life)
            assert scores_at(conn, block, half_life) == want
            active = [
                s
                for s in twin.signals.rows()
                if s[-2] <= block and (s[-1] is None or s[-1] > block)
            ]
            rows = [r for r in (SignalRow(*s[1:-2]) for s in active) if r.active]
            assert score_of(rows, block, half_life) == want
            top = ranking(conn, 0, block, 3, half_life)
            assert [s.score for s in top] == sorted(
                (s.score for s in want if s.target_kind == 0), reverse=True
            )[:3]
